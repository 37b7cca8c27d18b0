#!/usr/bin/env Rscript
# Reference numbers from R `survey` for children's weights calibrated with their households
# (`hiddenpop weights calibrate --children`, then `hiddenpop estimate` on the children with
# linearised SEs through the households' calibration; issue #13, item 3).
#
# Usage (from this folder):  Rscript reference.R
# Reads : households.csv  the bundled example's GWSM household weights (final_weight, before calibration),
#                         with stratum, psu (point), registered and household counts of children
#         children.csv    the example's children (hh_id, age, registered, works, attends_school)
#         margins.csv     known household totals for every stratum x registered cell (the registry's for
#                         the registered; illustrative counts for the unregistered, so that every total is
#                         known and a linearised SE through the calibration is valid)
# Calibration: `rake` as R rake() (one margin: the six cells), `linear` as R calibrate(calfun = "linear").
# Writes: reference.csv   case, method, statistic, variable, domain, estimate, se (sprintf("%.17g"))
#         versions.txt    R and survey versions
#
# The children's estimates are computed here at household level, on the calibrated household
# design: a child total is the household total of its children's values (svytotal), a child
# mean the ratio of two such totals (svyratio), children aged 6-17 through counts of children
# aged 6-17. This is an independent route: hiddenpop computes on the child rows.
suppressPackageStartupMessages(library(survey))
options(warn = 1, survey.lonely.psu = "fail")
num <- function(x) sprintf("%.17g", as.numeric(x))
writeLines(c(R.version.string, paste("survey", as.character(packageVersion("survey")))), "versions.txt")

hh <- read.csv("households.csv", stringsAsFactors = FALSE, colClasses = c(hh_id = "character", psu = "character"))
kids <- read.csv("children.csv", stringsAsFactors = FALSE, colClasses = c(hh_id = "character"))
m <- read.csv("margins.csv", stringsAsFactors = FALSE)
school <- kids$age >= 6
agg <- function(v) { s <- tapply(v, kids$hh_id, sum); out <- s[hh$hh_id]; out[is.na(out)] <- 0; as.numeric(out) }
hh$kids <- agg(rep(1, nrow(kids)))
hh$kids_works <- agg(kids$works)
hh$kids_6 <- agg(as.numeric(school))
hh$kids_6_school <- agg(ifelse(school, kids$attends_school, 0))
stopifnot(all(hh$kids == hh$n_children), all(hh$kids_works == hh$n_working))
hh$cell <- factor(paste(hh$stratum, hh$registered, sep = "|"), levels = m$level)
design <- svydesign(id = ~psu, strata = ~stratum, weights = ~final_weight, data = hh)
pop <- setNames(m$total, paste0("cell", m$level))

rows <- list()
add <- function(case, method, statistic, variable, domain, est, se) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, method = method, statistic = statistic, variable = variable,
                                          domain = domain, estimate = num(est), se = num(se))
}
for (method in c("rake", "linear")) {
  # hiddenpop's rake is R's rake() (its variance: the raking residuals), linear is calibrate(calfun = "linear")
  cal <- if (method == "rake") rake(design, list(~cell), list(data.frame(cell = m$level, Freq = m$total))) else
    calibrate(design, ~cell - 1, population = pop, calfun = "linear")
  stopifnot(isTRUE(all.equal(as.numeric(svytotal(~cell, cal)), m$total)))
  for (reg in c(NA, 0, 1)) {
    d <- if (is.na(reg)) cal else subset(cal, registered == reg)
    dom <- if (is.na(reg)) "all" else paste0("registered=", reg)
    t <- svytotal(~kids_works, d)
    add("works_total", method, "total", "works", dom, coef(t), SE(t))
    r <- svyratio(~kids_works, ~kids, d)
    add("works_mean", method, "mean", "works", dom, coef(r), SE(r))
    s <- svyratio(~kids_6_school, ~kids_6, d)
    add("school_mean_6_17", method, "mean", "attends_school", dom, coef(s), SE(s))
  }
}
write.csv(do.call(rbind, rows), "reference.csv", row.names = FALSE, quote = FALSE)

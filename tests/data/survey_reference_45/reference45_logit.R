#!/usr/bin/env Rscript
# Reference numbers from R `survey` 4.5 for logit calibration:
#   calibrate(design, formula, population, calfun = "logit", bounds = c(L, U))
#
# Usage (from this folder):  Rscript reference45_logit.R
# Reads : R's own example data (data(api): apiclus1, apistrat, as reference45.R exports them)
#         and ../survey_reference/households.csv + margins.csv
# Writes: reference45_logit.csv          case,statistic,variable,domain,estimate,se,ci_low,ci_high,df
#         weights45_logit_<case>.csv     calibrated weights in the input row order (id, weight)
#         versions45_logit.txt           R and survey versions, sessionInfo(), convergence log
# Numbers are written with sprintf("%.17g") (round-trip exact doubles). No random numbers.
suppressPackageStartupMessages(library(survey))
options(warn = 2)  # any warning (e.g. a replicate that fails to converge) stops the script
data(api)
f17 <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
rows <- list()
logl <- character()
add <- function(case, statistic, variable, domain, est, se = NA, lo = NA, hi = NA, df = NA) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, statistic = statistic, variable = variable,
    domain = domain, estimate = f17(est), se = f17(se), ci_low = f17(lo), ci_high = f17(hi), df = f17(df))
}
addstat <- function(case, statistic, obj, domain = "all") {
  est <- coef(obj); s <- SE(obj); ci <- confint(obj)
  for (i in seq_along(est)) add(case, statistic, names(est)[i], domain, est[i], s[i], ci[i, 1], ci[i, 2])
}
addby <- function(case, statistic, obj, variable) {
  est <- coef(obj); s <- SE(obj); ci <- confint(obj)
  for (i in seq_along(est)) add(case, statistic, variable, names(est)[i], est[i], s[i], ci[i, 1], ci[i, 2])
}
wcsv <- function(x, file) write.csv(x, file, row.names = FALSE, quote = TRUE)
# calibrate with calfun = "logit"; maxit/epsilon tight so that the weights are exact to ~1e-13
logitcal <- function(case, d, formula, pop, bounds) {
  cd <- calibrate(d, formula, pop, calfun = "logit", bounds = bounds, maxit = 200, epsilon = 1e-13)
  g <- weights(cd) / weights(d)
  logl <<- c(logl, sprintf("%s: bounds c(%g, %g), g in [%.10f, %.10f], %d g within 0.01 of L, %d within 0.01 of U",
                           case, bounds[1], bounds[2], min(g), max(g), sum(g - bounds[1] < 0.01),
                           sum(bounds[2] - g < 0.01)))
  add(case, "g_min", "design", "all", min(g)); add(case, "g_max", "design", "all", max(g))
  cd
}

# (1) api data: apiclus1 (one-stage cluster) and apistrat (stratified), as in reference45.R ----------
popvec <- c(`(Intercept)` = nrow(apipop), stypeH = sum(apipop$stype == "H"), stypeM = sum(apipop$stype == "M"),
            sch.wideYes = sum(apipop$sch.wide == "Yes"))
popvec2 <- c(`(Intercept)` = nrow(apipop), sch.wideYes = sum(apipop$sch.wide == "Yes"),
             comp.impYes = sum(apipop$comp.imp == "Yes"))
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
apicase <- function(case, d, data, formula, pop, bounds) {
  cd <- logitcal(case, d, formula, pop, bounds)
  addstat(case, "mean", svymean(~api00 + enroll, cd))
  addstat(case, "total", svytotal(~api00 + enroll, cd))
  addby(case, "mean", svyby(~api00, ~stype, cd, svymean), "api00")
  wcsv(data.frame(cds = data$cds, weight = f17(weights(cd))), paste0("weights45_", case, ".csv"))
}
apicase("logit_clus1", dclus1, apiclus1, ~stype + sch.wide, popvec, c(0.5, 2))
apicase("logit_clus1_tight", dclus1, apiclus1, ~stype + sch.wide, popvec, c(0.87, 1.85))
apicase("logit_strat", dstrat, apistrat, ~sch.wide + comp.imp, popvec2, c(0.5, 2))
apicase("logit_strat_tight", dstrat, apistrat, ~sch.wide + comp.imp, popvec2, c(0.68, 1.52))

# (2) replicate designs calibrated replicate by replicate (as.svrepdesign, then calibrate). With
# bounds c(0.5, 2) one JK1 replicate of dclus1 does not converge (R only warns), so c(0.4, 2.5) there.
repcal <- function(case, d) {
  addstat(case, "mean", svymean(~api00 + enroll, d))
  addstat(case, "total", svytotal(~api00 + enroll, d))
}
repcal("repcal_jk1_logit_clus1", calibrate(as.svrepdesign(dclus1, type = "JK1"), ~stype + sch.wide, popvec,
                                           calfun = "logit", bounds = c(0.4, 2.5), maxit = 200, epsilon = 1e-13))
repcal("repcal_jkn_logit_strat", calibrate(as.svrepdesign(dstrat, type = "JKn"), ~sch.wide + comp.imp, popvec2,
                                           calfun = "logit", bounds = c(0.5, 2), maxit = 200, epsilon = 1e-13))

# (3) the household survey of ../survey_reference (as its reference.R builds it) -------------------
age_levels <- c("18-29", "30-44", "45-59", "60+")
rr_levels <- c("North_0", "North_1", "Central_0", "Central_1", "South_0", "South_1")
hh <- read.csv("../survey_reference/households.csv", stringsAsFactors = FALSE, colClasses = c(hh_id = "character"))
hh$sex_head <- factor(hh$sex_head, levels = c("F", "M"))
hh$age_group_head <- factor(hh$age_group_head, levels = age_levels)
hh$region_registered <- factor(paste(hh$region, hh$registered, sep = "_"), levels = rr_levels)
margins <- read.csv("../survey_reference/margins.csv", stringsAsFactors = FALSE, colClasses = c(level = "character"))
mg <- split(margins, margins$variable)
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = hh)
calf <- ~region_registered + sex_head + age_group_head
popv <- c(sum(mg$sex_head$total), mg$region_registered$total[match(rr_levels[-1], mg$region_registered$level)],
          mg$sex_head$total[mg$sex_head$level == "M"],
          mg$age_group_head$total[match(age_levels[-1], mg$age_group_head$level)])
names(popv) <- colnames(model.matrix(calf, hh))
stopifnot(!anyNA(popv))
hhcase <- function(case, bounds) {
  cd <- logitcal(case, des, calf, popv, bounds)
  addstat(case, "total", svytotal(~children_working + income + n_children, cd))
  addstat(case, "mean", svymean(~children_working + income + n_children, cd))
  addby(case, "mean", svyby(~income, ~region, cd, svymean), "income")
  t1 <- svytotal(~region_registered + sex_head + age_group_head, cd)
  logl <<- c(logl, sprintf("%s: max |achieved - target| margin total = %.3g", case,
                           max(abs(coef(t1) - c(mg$region_registered$total[match(rr_levels, mg$region_registered$level)],
                                                mg$sex_head$total[match(c("F", "M"), mg$sex_head$level)],
                                                mg$age_group_head$total[match(age_levels, mg$age_group_head$level)])))))
  wcsv(data.frame(hh_id = hh$hh_id, weight = f17(weights(cd))), paste0("weights45_", case, ".csv"))
}
hhcase("logit_hh", c(0.5, 2))
hhcase("logit_hh_tight", c(0.92, 1.12))

# (4) bounds too tight for these margins: R stops (logged, for the tests of our error)
for (b in list(c(0.8, 1.25))) {
  msg <- tryCatch({ calibrate(dclus1, ~stype + sch.wide, popvec, calfun = "logit", bounds = b, maxit = 50); "converged" },
                  error = function(e) conditionMessage(e))
  logl <- c(logl, sprintf("dclus1 ~stype+sch.wide, bounds c(%g, %g), maxit 50: %s", b[1], b[2], msg))
}

wcsv(do.call(rbind, rows), "reference45_logit.csv")
writeLines(c(R.version.string, paste("survey", as.character(packageVersion("survey"))), "", logl, "",
             capture.output(sessionInfo())), "versions45_logit.txt")

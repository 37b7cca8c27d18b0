#!/usr/bin/env Rscript
# Reference numbers from R `survey` for `hiddenpop model --subpop` (issue #13): svyglm on
# subset(design, ...), i.e. domain estimation (rows outside the domain stay in the design with
# zero weight; degf counts the PSUs and strata that keep a row).
#
# Usage (from this folder):  Rscript subpop_glm.R
# Reads : api_strat.csv, api_clus1.csv (R's `api` example data as written by reference.R)
# Writes: subpop_glm.csv  case, subpop, formula, family, term, estimate, se, ci_low, ci_high, t, p_value,
#                         df_residual, dispersion (summary()), n (rows in the domain with complete values)
#         subpop_versions.txt  R and survey versions
# confint() is t on df.residual; p-values from summary(). Every number is sprintf("%.17g").
suppressPackageStartupMessages(library(survey))
options(warn = 1, survey.lonely.psu = "fail")
num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", as.numeric(x)))
writeLines(c(R.version.string, paste("survey", as.character(packageVersion("survey")))), "subpop_versions.txt")

strat <- read.csv("api_strat.csv", stringsAsFactors = FALSE)
clus1 <- read.csv("api_clus1.csv", stringsAsFactors = FALSE)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = clus1)

out <- list()
case <- function(name, design, subpop, cond, formula, family) {
  sub <- eval(substitute(subset(design, cond)))
  fit <- svyglm(as.formula(formula), design = sub, family = get(family)())
  sm <- summary(fit)$coefficients
  ci <- confint(fit)
  out[[length(out) + 1]] <<- data.frame(
    case = name, subpop = subpop, formula = formula, family = family, term = rownames(sm),
    estimate = num(sm[, 1]), se = num(sm[, 2]), ci_low = num(ci[, 1]), ci_high = num(ci[, 2]), t = num(sm[, 3]),
    p_value = num(sm[, 4]), df_residual = fit$df.residual, dispersion = num(summary(fit)$dispersion[1]),
    n = nrow(fit$model), stringsAsFactors = FALSE)
}
# the --subpop text of hiddenpop in `subpop`; the same condition in R in the call
case("strat_gaussian", dstrat, "enroll>=400", enroll >= 400, "api00 ~ ell + meals", "gaussian")
case("strat_quasipoisson", dstrat, "awards=Yes", awards == "Yes", "api_stu ~ meals + mobility", "quasipoisson")
case("clus1_quasibinomial", dclus1, "stype!=H", stype != "H", "sch_wide ~ ell + meals", "quasibinomial")
case("clus1_gaussian", dclus1, "api99>=600 and awards=Yes", api99 >= 600 & awards == "Yes", "api00 ~ ell + stype",
     "gaussian")
write.csv(do.call(rbind, out), "subpop_glm.csv", row.names = FALSE, quote = FALSE)

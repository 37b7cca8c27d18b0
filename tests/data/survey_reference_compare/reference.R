#!/usr/bin/env Rscript
# Reference numbers from R `survey` for domain comparisons and svyglm (hiddenpop issue #15).
#
# Usage (from this folder):  Rscript reference.R
# Reads : R's example data `api` (shipped with survey) and ../survey_reference/households.csv
# Writes: api_strat.csv, api_clus1.csv, api_clus2.csv   the example data (columns used here)
#         rep_<design>_mult.csv.gz    replicate multipliers, one row per group of rows with equal
#                                   multipliers (R's compressed repweights); analysis weight = weight x multiplier
#         rep_<design>_index.csv    for every data row (file order) its group (1-based) in _mult.csv
#         rep_<design>_params.csv   replicate, scale, rscale, mse, degf
#         compare.csv               svyby(..., covmat=TRUE) + svycontrast: differences and ratios
#         glm.csv                   svyglm coefficients, SEs, t-intervals, p-values, df, dispersion
#         versions.txt              R and survey versions
#
# Every number is written with sprintf("%.17g") (reads back as the same double); NA for missing.
#
# Contrasts:
#   difference  svycontrast(b, c(level = 1, reference = -1)): linear; the SE is sqrt(c' V c) with V the
#               joint covariance of the domain estimates (svyby covmat = TRUE: joint influence
#               functions for linearisation, the replicate covariance for replicate designs).
#   ratio       svycontrast(b, quote(level / reference)): nonlinear. For a linearisation design R
#               uses the delta method on V; for a replicate design svyby(..., return.replicates = TRUE)
#               makes svycontrast compute the ratio in every replicate and take their replicate
#               variance (svycontrast.svrepstat). Both are what hiddenpop reproduces.
#   intervals   confint(): normal (qnorm); p_value = 2 * pnorm(-|estimate / se|) for a difference and
#               2 * pnorm(-|(estimate - 1) / se|) for a ratio (no difference = ratio 1).
# svyglm: gaussian, quasibinomial, quasipoisson; confint() uses t on df.residual =
#   degf(design) + 1 - p (for a design with missing values, degf counts only the PSUs that keep a row);
#   p-values from summary() (t on df.residual); deff from svyglm(deff = TRUE) (linearisation only): the
#   design covariance over glm's model-based covariance (the glm fitted with the scaled weights).
#   With missing values, summary()'s dispersion carries R's factor mean(used weights)/mean(all weights)
#   (the Pearson residuals of residuals.svyglm rescale the weights over the rows kept).

suppressPackageStartupMessages(library(survey))
options(warn = 1, survey.lonely.psu = "fail")
data(api)
num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", as.numeric(x)))
write_num <- function(df, file) {
  for (j in seq_along(df)) if (is.numeric(df[[j]])) df[[j]] <- num(df[[j]])
  con <- if (grepl("[.]gz$", file)) gzfile(file, "wb") else file(file, "wb")
  write.csv(df, con, row.names = FALSE, quote = FALSE, na = "NA")
  close(con)
}
writeLines(c(R.version.string, paste("survey", as.character(packageVersion("survey")))), "versions.txt")

# --- data -------------------------------------------------------------------------------------
yesno <- function(x) as.numeric(x == "Yes")
api_prep <- function(d) {
  d$sch_wide <- yesno(d$sch.wide); d$comp_imp <- yesno(d$comp.imp)
  d$awards <- as.character(d$awards); d$stype <- as.character(d$stype)
  d
}
apistrat <- api_prep(apistrat); apiclus1 <- api_prep(apiclus1); apiclus2 <- api_prep(apiclus2)
vars <- c("api00", "api99", "ell", "meals", "mobility", "enroll", "api_stu", "sch_wide", "comp_imp", "awards")
apistrat$api_stu <- apistrat$api.stu; apiclus1$api_stu <- apiclus1$api.stu; apiclus2$api_stu <- apiclus2$api.stu
write_num(apistrat[, c("cds", "stype", "pw", "fpc", vars)], "api_strat.csv")
write_num(apiclus1[, c("cds", "dnum", "stype", "pw", "fpc", vars)], "api_clus1.csv")
write_num(apiclus2[, c("cds", "dnum", "snum", "stype", "pw", "fpc1", "fpc2", vars)], "api_clus2.csv")

hh <- read.csv("../survey_reference/households.csv", stringsAsFactors = FALSE, colClasses = c(hh_id = "character"))
hh$works_any <- as.numeric(hh$children_working > 0)       # recomputed the same way in the tests
hh$age_group_head <- factor(hh$age_group_head, levels = c("18-29", "30-44", "45-59", "60+"))

dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
dclus2 <- svydesign(id = ~dnum + snum, weights = ~pw, data = apiclus2)   # with replacement: ultimate cluster
dclus2fpc <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)   # two stages, both without replacement
dhh <- svydesign(id = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = hh)
# the linear calibration of ../survey_reference/reference.R (section d) to margins.csv
rr_levels <- c("North_0", "North_1", "Central_0", "Central_1", "South_0", "South_1")
hh$region_registered <- factor(paste(hh$region, hh$registered, sep = "_"), levels = rr_levels)
hh$sex_head <- factor(hh$sex_head, levels = c("F", "M"))
dhh <- svydesign(id = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = hh)
mg <- split(read.csv("../survey_reference/margins.csv", stringsAsFactors = FALSE, colClasses = c(level = "character")),
            ~variable)
tot <- function(v, lev) mg[[v]]$total[match(lev, mg[[v]]$level)]
popvec <- c(sum(tot("region_registered", rr_levels)), tot("region_registered", rr_levels)[-1],
            tot("sex_head", c("F", "M"))[-1], tot("age_group_head", levels(hh$age_group_head))[-1])
names(popvec) <- colnames(model.matrix(~region_registered + sex_head + age_group_head, hh))
stopifnot(!anyNA(popvec))
dhh_cal <- calibrate(dhh, ~region_registered + sex_head + age_group_head, population = popvec, calfun = "linear")

# --- replicate designs, exported so that the comparison needs no RNG ------------------------------
export_rep <- function(name, rd) {
  rw <- rd$repweights
  stopifnot(inherits(rw, "repweights_compressed"), !rd$combined.weights)
  m <- as.data.frame(as.matrix(rw$weights))
  names(m) <- paste0("rep", seq_len(ncol(m)))
  write_num(cbind(group = seq_len(nrow(m)), m), paste0("rep_", name, "_mult.csv.gz"))
  write_num(data.frame(group = rw$index), paste0("rep_", name, "_index.csv"))
  write_num(data.frame(replicate = seq_len(ncol(m)), scale = rd$scale, rscale = rd$rscales,
                       mse = as.numeric(rd$mse), degf = degf(rd)), paste0("rep_", name, "_params.csv"))
  rd
}
rclus1_jk1 <- export_rep("clus1_jk1", as.svrepdesign(dclus1, type = "JK1"))
rstrat_jkn <- export_rep("strat_jkn", as.svrepdesign(dstrat, type = "JKn"))
set.seed(20261206)
rclus2_boot <- export_rep("clus2_boot", as.svrepdesign(dclus2, type = "bootstrap", replicates = 60))
set.seed(1506)
rhh_boot <- export_rep("hh_boot", as.svrepdesign(dhh, type = "subbootstrap", replicates = 80))
rhh_jkn <- export_rep("hh_jkn", as.svrepdesign(dhh, type = "JKn"))

# --- contrasts -------------------------------------------------------------------------------
out <- list()
lab <- function(v) { v <- as.character(v); v }
contrast_case <- function(case, design, method, statistic, yvar, byvars, compare, reference, FUN, ...) {
  rep <- inherits(design, "svyrep.design")
  byf <- as.formula(paste("~", paste(byvars, collapse = "+")))
  b <- if (rep) svyby(as.formula(paste0("~", yvar)), byf, design, FUN, covmat = TRUE, return.replicates = TRUE,
                      na.rm = TRUE, ...)
       else svyby(as.formula(paste0("~", yvar)), byf, design, FUN, covmat = TRUE, na.rm = TRUE, ...)
  cf <- coef(b)
  doms <- as.data.frame(b)[, byvars, drop = FALSE]
  dom_names <- apply(doms, 1, function(r) paste(trimws(r), collapse = "."))
  stats <- if (length(cf) == nrow(doms)) "" else unique(sub("^[^:]*:", "", names(cf)))
  if (rep && length(stats) > 1) {
    # svyby's "replicates" attribute is domain-major (domain 1: every level, domain 2: ...) while coef() is
    # level-major, and svycontrast.svyby pairs them by position: for a factor variable a nonlinear contrast
    # would use the wrong replicate columns. Reorder them to coef() order and check the result reproduces
    # vcov(b) (which svyby computed correctly).
    r0 <- attr(b, "replicates"); nd <- nrow(doms); ns <- length(stats); k <- seq_len(nd * ns)
    r1 <- r0[, ((k - 1) %% nd) * ns + (k - 1) %/% nd + 1, drop = FALSE]
    v1 <- svrVar(r1, design$scale, design$rscales, mse = design$mse, coef = cf)
    v0 <- as.matrix(vcov(b))
    stopifnot(max(abs(matrix(v1, nrow(v0)) - v0)) <= 1e-12 * max(abs(v0)))
    for (a in c("scale", "rscales", "mse")) attr(r1, a) <- attr(r0, a)
    attr(b, "replicates") <- r1
  }
  others <- setdiff(byvars, compare)
  for (s in stats) {
    nm <- if (s == "") dom_names else paste(dom_names, s, sep = ":")
    stopifnot(all(nm %in% names(cf)))
    variable <- if (s == "") yvar else sub(paste0("^", yvar), paste0(yvar, "="), s)
    for (i in seq_len(nrow(doms))) {
      lev <- trimws(as.character(doms[i, compare]))
      if (lev == reference) next
      # the reference domain with the same values of the other by variables
      same <- rep(TRUE, nrow(doms))
      for (o in others) same <- same & trimws(as.character(doms[[o]])) == trimws(as.character(doms[i, o]))
      j <- which(same & trimws(as.character(doms[[compare]])) == reference)
      if (length(j) != 1) next
      within <- if (length(others)) paste(paste0(others, "=", sapply(others, function(o) trimws(as.character(doms[i, o])))),
                                          collapse = ", ") else "all"
      cvec <- setNames(numeric(length(cf)), names(cf)); cvec[nm[i]] <- 1; cvec[nm[j]] <- -1
      d <- svycontrast(b, cvec)
      r <- svycontrast(b, parse(text = sprintf("`%s` / `%s`", nm[i], nm[j]))[[1]])
      for (k in 1:2) {
        x <- if (k == 1) d else r
        est <- as.numeric(coef(x)); se <- as.numeric(SE(x)); ci <- confint(x)
        out[[length(out) + 1]] <<- data.frame(
          case = case, method = method, statistic = statistic, variable = variable, within = within,
          compare = compare, level = lev, reference = reference, contrast = c("difference", "ratio")[k],
          estimate = est, se = se, ci_low = ci[1, 1], ci_high = ci[1, 2], p_value = 2 * pnorm(-abs((est - (k - 1)) / se)),   # ratio: against 1
          stringsAsFactors = FALSE)
      }
    }
  }
}
designs <- list(
  strat = list(lin = dstrat, jkn = rstrat_jkn),
  clus1 = list(lin = dclus1, jk1 = rclus1_jk1),
  clus2 = list(lin = dclus2, bootstrap = rclus2_boot),
  hh = list(lin = dhh, bootstrap = rhh_boot, jkn = rhh_jkn),
  hhcal = list(lin = dhh_cal),
  clus2fpc = list(lin = dclus2fpc))
for (nm in names(designs)) for (meth in names(designs[[nm]])) {
  des <- designs[[nm]][[meth]]
  method <- if (meth == "lin") "linearization" else meth
  cc <- function(id, ...) contrast_case(paste(nm, id, sep = "_"), des, method, ...)
  if (nm == "strat") {
    cc("mean_api00_by_schwide", "mean", "api00", "sch_wide", "sch_wide", "0", svymean)
    cc("mean_api00_by_awards_stype", "mean", "api00", c("awards", "stype"), "awards", "No", svymean)
    cc("total_enroll_by_awards", "total", "enroll", "awards", "awards", "No", svytotal)
    cc("ratio_api00_api99_by_schwide", "ratio", "api00", "sch_wide", "sch_wide", "0", svyratio,
       denominator = ~api99)
  } else if (nm == "clus1") {
    cc("mean_api00_by_stype", "mean", "api00", "stype", "stype", "E", svymean)
    cc("total_enroll_by_stype", "total", "enroll", "stype", "stype", "E", svytotal)
    cc("mean_compimp_by_stype_awards", "mean", "comp_imp", c("stype", "awards"), "stype", "E", svymean)
  } else if (nm == "clus2") {
    cc("mean_enroll_by_stype", "mean", "enroll", "stype", "stype", "E", svymean)     # 6 missing enroll
    cc("mean_api00_by_schwide", "mean", "api00", "sch_wide", "sch_wide", "0", svymean)
  } else if (nm == "clus2fpc") {  # the second stage adds to the variance
    cc("mean_api00_by_stype", "mean", "api00", "stype", "stype", "E", svymean)
    cc("total_enroll_by_schwide", "total", "enroll", "sch_wide", "sch_wide", "0", svytotal)
  } else if (nm == "hhcal") {     # calibrated: the variance uses the calibration residuals
    cc("mean_children_working_by_registered", "mean", "children_working", "registered", "registered", "0", svymean)
    cc("mean_income_by_sex_registered", "mean", "income", c("sex_head", "registered"), "sex_head", "F", svymean)
  } else {
    cc("mean_children_working_by_registered", "mean", "children_working", "registered", "registered", "0", svymean)
    cc("mean_works_any_by_registered_sex", "mean", "works_any", c("registered", "sex_head"), "registered", "0",
       svymean)
    cc("total_children_working_by_registered", "total", "children_working", "registered", "registered", "0",
       svytotal)
    cc("ratio_working_children_by_registered", "ratio", "children_working", "registered", "registered", "0",
       svyratio, denominator = ~n_children)
    cc("proportion_age_group_by_registered", "proportion", "age_group_head", "registered", "registered", "0",
       svymean)
    cc("mean_school_attending_by_region_registered", "mean", "school_attending", c("registered", "region"),
       "registered", "0", svymean)
  }
}
write_num(do.call(rbind, out), "compare.csv")

# --- svyglm -----------------------------------------------------------------------------------
gout <- list()
glm_case <- function(case, design, method, formula, family) {
  args <- list(formula = as.formula(formula), design = design, family = get(family)())
  rep <- inherits(design, "svyrep.design")
  if (!rep) args$deff <- TRUE          # design effects: only the linearisation method of svyglm has them
  fit <- do.call(svyglm, args)
  sm <- summary(fit)$coefficients
  ci <- confint(fit)
  deff <- if (rep) NA else diag(attr(fit, "deff"))
  gout[[length(gout) + 1]] <<- data.frame(
    case = case, method = method, formula = formula, family = family, term = rownames(sm),
    estimate = sm[, 1], se = sm[, 2], ci_low = ci[, 1], ci_high = ci[, 2], t = sm[, 3], p_value = sm[, 4],
    df_residual = fit$df.residual, dispersion = summary(fit)$dispersion[1], deff = deff, stringsAsFactors = FALSE)
}
for (nm in names(designs)) for (meth in names(designs[[nm]])) {
  des <- designs[[nm]][[meth]]
  method <- if (meth == "lin") "linearization" else meth
  gc <- function(id, ...) glm_case(paste(nm, id, sep = "_"), des, method, ...)
  if (nm == "strat") {
    gc("gaussian", "api00 ~ ell + meals + mobility", "gaussian")
    gc("quasibinomial", "sch_wide ~ ell + meals + stype", "quasibinomial")
    gc("quasipoisson", "enroll ~ meals + stype", "quasipoisson")
  } else if (nm == "clus1") {
    gc("gaussian", "api00 ~ ell + meals + stype", "gaussian")
    gc("quasibinomial", "comp_imp ~ api99 + stype", "quasibinomial")
    gc("quasipoisson", "api_stu ~ meals", "quasipoisson")
  } else if (nm == "clus2") {
    gc("gaussian", "api00 ~ ell + meals", "gaussian")
    gc("quasipoisson", "enroll ~ meals + stype", "quasipoisson")     # 6 missing enroll: rows dropped
  } else if (nm == "clus2fpc") {
    gc("gaussian", "api00 ~ ell + meals", "gaussian")
    gc("quasibinomial", "sch_wide ~ ell + meals", "quasibinomial")
  } else if (nm == "hhcal") {
    gc("gaussian", "income ~ registered + sex_head + n_children", "gaussian")
  } else {
    gc("gaussian", "children_working ~ registered + sex_head + n_children", "gaussian")
    gc("quasibinomial", "works_any ~ registered + sex_head + age_group_head", "quasibinomial")
    gc("quasipoisson", "children_working ~ registered + sex_head + n_children", "quasipoisson")
  }
}
# a model with only an intercept (its coefficient is the mean)
for (p in list(list("strat", dstrat, "api00"), list("clus1", dclus1, "api00"), list("hh", dhh, "children_working")))
  glm_case(paste(p[[1]], "intercept_only", sep = "_"), p[[2]], "linearization", paste(p[[3]], "~ 1"), "gaussian")
write_num(do.call(rbind, gout), "glm.csv")
cat("wrote compare.csv (", nrow(do.call(rbind, out)), "rows) and glm.csv\n")

#!/usr/bin/env Rscript
# Reference numbers from R `survey` >= 4.5 for issue #12 (estimation engine equals survey 4.5).
#
# Usage (from this folder):  Rscript reference45.R
# Reads : R's own example data (data(api)) and ../survey_reference/households*.csv
# Writes: api*.csv                 the example data sets used (so tests need no R)
#         api_margins.csv          population margins from apipop (variable,level,total)
#         reference45.csv          case,statistic,variable,domain,estimate,se,ci_low,ci_high,df
#         weights45_<case>.csv     weights after calibration / trimming (row order of the input)
#         versions45.txt           R and survey versions, sessionInfo()
# Numbers are written with sprintf("%.17g") (round-trip exact doubles).
suppressPackageStartupMessages(library(survey))
options(warn = 1)
data(api)
f17 <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
rows <- list()
add <- function(case, statistic, variable, domain, est, se = NA, lo = NA, hi = NA, df = NA) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, statistic = statistic, variable = variable,
    domain = domain, estimate = f17(est), se = f17(se), ci_low = f17(lo), ci_high = f17(hi), df = f17(df))
}
# svystat (mean/total/ratio): normal interval (confint default)
addstat <- function(case, statistic, obj, domain = "all", variable = NULL) {
  est <- coef(obj); s <- SE(obj); ci <- confint(obj)
  nm <- if (is.null(variable)) names(est) else variable
  for (i in seq_along(est)) add(case, statistic, nm[i], domain, est[i], s[i], ci[i, 1], ci[i, 2])
}
addby <- function(case, statistic, obj, variable) {
  est <- coef(obj); s <- SE(obj); ci <- confint(obj)
  for (i in seq_along(est)) add(case, statistic, variable, names(est)[i], est[i], s[i], ci[i, 1], ci[i, 2])
}
wcsv <- function(x, file) write.csv(x, file, row.names = FALSE, quote = TRUE)
exportdata <- function(d, file) {
  d <- d[, c("cds", "stype", "snum", "dnum", "cnum", "api00", "api99", "enroll", "sch.wide", "comp.imp",
             intersect(c("pw", "fpc", "fpc1", "fpc2"), names(d)))]
  for (v in c("api00", "api99", "enroll", "pw", "fpc", "fpc1", "fpc2")) if (v %in% names(d)) d[[v]] <- f17(d[[v]])
  wcsv(d, file)
}
exportdata(apisrs, "apisrs.csv"); exportdata(apistrat, "apistrat.csv")
exportdata(apiclus1, "apiclus1.csv"); exportdata(apiclus2, "apiclus2.csv")
# population margins for calibration (apipop)
marg <- rbind(
  data.frame(variable = "stype", level = names(table(apipop$stype)), total = as.vector(table(apipop$stype))),
  data.frame(variable = "sch.wide", level = names(table(apipop$sch.wide)), total = as.vector(table(apipop$sch.wide))),
  data.frame(variable = "comp.imp", level = names(table(apipop$comp.imp)), total = as.vector(table(apipop$comp.imp))))
wcsv(marg, "api_margins.csv")
pop_stype <- data.frame(stype = names(table(apipop$stype)), Freq = as.vector(table(apipop$stype)))
pop_sw <- data.frame(sch.wide = names(table(apipop$sch.wide)), Freq = as.vector(table(apipop$sch.wide)))
popvec <- c(`(Intercept)` = nrow(apipop), stypeH = sum(apipop$stype == "H"), stypeM = sum(apipop$stype == "M"),
            sch.wideYes = sum(apipop$sch.wide == "Yes"))

dsrs <- svydesign(id = ~1, weights = ~pw, fpc = ~fpc, data = apisrs)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)

# (1) quantiles: equal weights, even n (apisrs n=200), and a cluster design -------------
addq <- function(case, design, var, ps, domain = "all") {
  for (p in ps) {
    q <- svyquantile(as.formula(paste0("~", var)), design, p, ci = TRUE)
    ci <- confint(q)
    add(case, paste0("quantile_", p), var, domain, coef(q), SE(q), ci[1, 1], ci[1, 2], degf(design))
  }
}
addq("q_srs", dsrs, "api00", c(0.25, 0.5, 0.75))
addq("q_srs", dsrs, "enroll", c(0.5))
addq("q_clus1", dclus1, "api00", c(0.5, 0.9))
addq("q_strat", dstrat, "api00", c(0.5))

# (2) JK1 with an fpc: scale (1-f)(n-1)/n ----------------------------------------------
jk <- as.svrepdesign(dclus1, type = "JK1")
add("jk1_fpc_clus1", "scale", "design", "all", jk$scale)
addstat("jk1_fpc_clus1", "mean", svymean(~api00 + enroll, jk))
addstat("jk1_fpc_clus1", "total", svytotal(~api00 + enroll, jk))
jks <- as.svrepdesign(dsrs, type = "JK1")
add("jk1_fpc_srs", "scale", "design", "all", jks$scale)
addstat("jk1_fpc_srs", "mean", svymean(~api00, jks))

# (3) bounded raking that R solves with active bounds ----------------------------------
for (cb in list(list("rakeb_clus1_05_16", c(0.5, 1.6)), list("rakeb_clus1_089_19", c(0.89, 1.9)))) {
  cd <- calibrate(dclus1, ~stype + sch.wide, popvec, calfun = "raking", bounds = cb[[2]], maxit = 200,
                  epsilon = 1e-13)
  g <- weights(cd) / weights(dclus1)
  add(cb[[1]], "g_min", "design", "all", min(g)); add(cb[[1]], "g_max", "design", "all", max(g))
  addstat(cb[[1]], "mean", svymean(~api00, cd)); addstat(cb[[1]], "total", svytotal(~enroll, cd))
  wcsv(data.frame(cds = apiclus1$cds, weight = f17(weights(cd))), paste0("weights45_", cb[[1]], ".csv"))
}

# households (synthetic survey of ../survey_reference) ------------------------------------
age_levels <- c("18-29", "30-44", "45-59", "60+")
prep <- function(d) {
  d$stratum <- factor(d$stratum); d$sex_head <- factor(d$sex_head, levels = c("F", "M"))
  d$region <- factor(d$region, levels = c("North", "Central", "South")); d
}
hh <- prep(read.csv("../survey_reference/households.csv", stringsAsFactors = FALSE, colClasses = c(hh_id = "character")))
hl <- prep(read.csv("../survey_reference/households_lonely.csv", stringsAsFactors = FALSE, colClasses = c(hh_id = "character")))
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = hh)
desl <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = hl)

# (4) lonely PSU adjust (survey >= 4.3 recentres at the grand mean of PSU totals) ------
# (8) lonely PSU average in domains: svyby counts the domain's own strata
for (opt in c("adjust", "average")) {
  options(survey.lonely.psu = opt)
  case <- paste0("lonely45_", opt)
  addstat(case, "total", svytotal(~income + children_working, desl))
  addstat(case, "mean", svymean(~income + children_working, desl))
  for (by in c("region", "registered")) {
    for (v in c("income", "children_working")) {
      f <- as.formula(paste0("~", v)); b <- as.formula(paste0("~", by))
      tt <- svyby(f, b, desl, svytotal); mm <- svyby(f, b, desl, svymean)
      lab <- paste0(by, "=", levels(factor(hl[[by]])))
      est <- coef(tt); s <- SE(tt); ci <- confint(tt)
      for (i in seq_along(est)) add(case, "total", v, lab[i], est[i], s[i], ci[i, 1], ci[i, 2])
      est <- coef(mm); s <- SE(mm); ci <- confint(mm)
      for (i in seq_along(est)) add(case, "mean", v, lab[i], est[i], s[i], ci[i, 1], ci[i, 2])
    }
  }
}
options(survey.lonely.psu = "fail")

# (5) trimWeights strict=TRUE (survey >= 4.2: trimmed units take no later share) --------
ub <- 3 * median(weights(des))
tr <- trimWeights(des, upper = ub, strict = TRUE)
add("trim45_strict", "upper_bound", "design", "all", ub)
addstat("trim45_strict", "mean", svymean(~income + children_working, tr))
addstat("trim45_strict", "total", svytotal(~income + children_working, tr))
wcsv(data.frame(hh_id = hh$hh_id, weight = f17(weights(tr))), "weights45_trim45_strict.csv")
# upper and lower bounds, several passes: weights raised to the lower bound in pass 1 stay there
# (survey < 4.2 gave them a share of later excess, 1.4% apart here)
ub2 <- 2 * median(weights(des)); lb2 <- 0.5 * median(weights(des))
tr2 <- trimWeights(des, upper = ub2, lower = lb2, strict = TRUE)
add("trim45_strict_lower", "upper_bound", "design", "all", ub2)
add("trim45_strict_lower", "lower_bound", "design", "all", lb2)
addstat("trim45_strict_lower", "mean", svymean(~income, tr2))
wcsv(data.frame(hh_id = hh$hh_id, weight = f17(weights(tr2))), "weights45_trim45_strict_lower.csv")
ubc <- 1.2 * median(weights(dstrat))
trs <- trimWeights(dstrat, upper = ubc, lower = 0.5 * median(weights(dstrat)), strict = TRUE)
add("trim45_strict_apistrat", "upper_bound", "design", "all", ubc)
add("trim45_strict_apistrat", "lower_bound", "design", "all", 0.5 * median(weights(dstrat)))
wcsv(data.frame(cds = apistrat$cds, weight = f17(weights(trs))), "weights45_trim45_strict_apistrat.csv")
addstat("trim45_strict_apistrat", "mean", svymean(~api00, trs))

# (6) two-stage cluster sample with an fpc at each stage -----------------------------
ms <- function(case, d) {
  addstat(case, "mean", svymean(~api00 + api99, d))
  addstat(case, "total", svytotal(~enroll, d, na.rm = TRUE))
  addstat(case, "ratio", svyratio(~api00, ~api99, d), variable = "api00/api99")
  addby(case, "mean", svyby(~api00, ~stype, d, svymean), "api00")
  addby(case, "total", svyby(~api00, ~stype, d, svytotal), "api00")
  addq(case, d, "api00", 0.5)
  add(case, "degf", "design", "all", degf(d))
}
ms("multistage_clus2", dclus2)
options(survey.ultimate.cluster = TRUE)
ms("ultimate_clus2", dclus2)
options(survey.ultimate.cluster = FALSE)
# our own stratified variant: districts split by the parity of dnum, 380 even and 377 odd
# districts in the population (made up), weights from the fpcs (written to weights45_*.csv)
ac2 <- apiclus2
ac2$dstratum <- ifelse(ac2$dnum %% 2 == 0, "even", "odd")
ac2$fpc1h <- ifelse(ac2$dstratum == "even", 380, 377)
dclus2s <- svydesign(id = ~dnum + snum, strata = ~dstratum, fpc = ~fpc1h + fpc2, data = ac2)
ms("multistage_strat_clus2", dclus2s)
wcsv(data.frame(cds = ac2$cds, dstratum = ac2$dstratum, fpc1h = ac2$fpc1h, weight = f17(weights(dclus2s))),
     "weights45_multistage_strat_clus2.csv")

# (7) calibrated designs: linearisation through the calibration -----------------------
calcase <- function(case, d, data, idcol) {
  addstat(case, "mean", svymean(~api00 + enroll, d))
  addstat(case, "total", svytotal(~api00 + enroll, d))
  addby(case, "mean", svyby(~api00, ~stype, d, svymean), "api00")
  wcsv(data.frame(cds = data[[idcol]], weight = f17(weights(d))), paste0("weights45_", case, ".csv"))
}
calcase("cal_rake_clus1", rake(dclus1, list(~stype, ~sch.wide), list(pop_stype, pop_sw),
                               control = list(maxit = 1000, epsilon = 1e-13)), apiclus1, "cds")
calcase("cal_linear_clus1", calibrate(dclus1, ~stype + sch.wide, popvec, calfun = "linear"), apiclus1, "cds")
calcase("cal_raking_clus1", calibrate(dclus1, ~stype + sch.wide, popvec, calfun = "raking", epsilon = 1e-13),
        apiclus1, "cds")
calcase("cal_raking_b_clus1", calibrate(dclus1, ~stype + sch.wide, popvec, calfun = "raking", bounds = c(0.5, 1.6),
                                        maxit = 200, epsilon = 1e-13), apiclus1, "cds")
calcase("cal_poststrat_clus1", postStratify(dclus1, ~stype, pop_stype), apiclus1, "cds")
pop_ci <- data.frame(comp.imp = names(table(apipop$comp.imp)), Freq = as.vector(table(apipop$comp.imp)))
calcase("cal_rake_strat", rake(dstrat, list(~sch.wide, ~comp.imp), list(pop_sw, pop_ci),
                               control = list(maxit = 1000, epsilon = 1e-13)), apistrat, "cds")
popvec2 <- c(`(Intercept)` = nrow(apipop), sch.wideYes = sum(apipop$sch.wide == "Yes"),
             comp.impYes = sum(apipop$comp.imp == "Yes"))
calcase("cal_linear_strat", calibrate(dstrat, ~sch.wide + comp.imp, popvec2, calfun = "linear"), apistrat, "cds")
calcase("cal_poststrat_strat", postStratify(dstrat, ~sch.wide, pop_sw), apistrat, "cds")

# (7b) replicate designs calibrated replicate by replicate (as.svrepdesign, then rake/calibrate)
repcal <- function(case, d) {
  addstat(case, "mean", svymean(~api00 + enroll, d))
  addstat(case, "total", svytotal(~api00 + enroll, d))
}
repcal("repcal_jk1_rake_clus1", rake(as.svrepdesign(dclus1, type = "JK1"), list(~stype, ~sch.wide),
                                     list(pop_stype, pop_sw), control = list(maxit = 1000, epsilon = 1e-13)))
repcal("repcal_jkn_linear_strat", calibrate(as.svrepdesign(dstrat, type = "JKn"), ~sch.wide + comp.imp, popvec2,
                                            calfun = "linear"))

# (8) domain degrees of freedom: svyby hands the domain's own design to svyquantile/svyciprop
for (s in c("E", "H", "M")) {
  sub <- subset(dclus1, stype == s)
  q <- svyquantile(~api00, sub, 0.5, ci = TRUE); ci <- confint(q)
  add("domaindf_clus1", "quantile_0.5", "api00", paste0("stype=", s), coef(q), SE(q), ci[1, 1], ci[1, 2], degf(sub))
  p <- svyciprop(~I(sch.wide == "Yes"), sub, method = "logit"); ci <- confint(p)
  add("domaindf_clus1", "proportion_logit", "sch_wide_yes", paste0("stype=", s), coef(p), SE(p), ci[1], ci[2], degf(sub))
}
qb <- svyby(~api00, ~stype, dclus1, svyquantile, quantiles = 0.5, ci = TRUE)
for (i in seq_len(nrow(qb))) add("domaindf_clus1_svyby", "quantile_0.5", "api00", paste0("stype=", qb$stype[i]),
                                 qb$api00[i], SE(qb)[i], confint(qb)[i, 1], confint(qb)[i, 2])

out <- do.call(rbind, rows)
write.csv(out, "reference45.csv", row.names = FALSE, quote = FALSE)
sink("versions45.txt")
cat(R.version.string, "\n"); cat("survey", as.character(packageVersion("survey")), "\n")
cat("survey.use_rcpp =", getOption("survey.use_rcpp"), "\n"); print(sessionInfo())
sink()

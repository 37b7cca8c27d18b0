#!/usr/bin/env Rscript
# More reference numbers from R `survey` >= 4.5 for issue #12: nhanes, election, replicate designs.
#
# Usage (from this folder):  Rscript reference45_more.R
# Reads : R's own example data (data(nhanes), data(election), data(api)); apiclus1.csv etc. were
#         written by reference45.R from the same data(api)
# Writes: nhanes.csv               data(nhanes) (8591 rows; NA where R has NA)
#         nhanes_margins.csv       made-up population margins of RIAGENDR and agecat (variable,level,total)
#         election_pps.csv         data(election) election_pps with wt = 1/p and bush_won
#         apistrat_boot50.csv      apistrat columns used + replicate analysis weights rep_1..rep_50 of as.svrepdesign(dstrat, "bootstrap", 50)
#         apiclus1_subboot50.csv   the same for as.svrepdesign(dclus1, "subbootstrap", 50)
#         apiclus1_jk1.csv         the same for as.svrepdesign(svydesign(id=~dnum, weights=~pw), "JK1")
#         reference45_more.csv     case,statistic,variable,domain,estimate,se,ci_low,ci_high,df,deff
#         versions45_more.txt      R and survey versions, sessionInfo()
# Numbers are written with sprintf("%.17g"). The two bootstrap designs use set.seed(45) and are
# then fixed by their exported weights (tests read the weights, never draw replicates).
suppressPackageStartupMessages(library(survey))
options(warn = 1, survey.lonely.psu = "fail")
f17 <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
rows <- list()
add <- function(case, statistic, variable, domain, est, se = NA, lo = NA, hi = NA, df = NA, deff = NA) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, statistic = statistic, variable = variable,
    domain = domain, estimate = f17(est), se = f17(se), ci_low = f17(lo), ci_high = f17(hi), df = f17(df),
    deff = f17(deff))
}
dv <- function(obj) { d <- attr(obj, "deff"); if (is.null(d)) rep(NA, length(coef(obj))) else
  if (is.matrix(d)) diag(d) else as.vector(d) }
# svystat (mean/total/ratio): normal interval (confint default), level as given
addstat <- function(case, statistic, obj, variable = NULL, domain = "all", level = 0.95) {
  est <- coef(obj); s <- SE(obj); ci <- confint(obj, level = level); de <- dv(obj)
  nm <- if (is.null(variable)) names(est) else variable
  for (i in seq_along(est)) add(case, statistic, nm[i], domain, est[i], s[i], ci[i, 1], ci[i, 2], NA, de[i])
}
# svyby: domain label "by=level" (crossings "a=x, b=y", as hiddenpop estimate labels them)
addby <- function(case, statistic, obj, variable, byvars) {
  est <- coef(obj); s <- SE(obj); ci <- confint(obj); de <- if (is.null(obj$DEff)) NA else obj$DEff
  if (length(de) == 1) de <- rep(de, length(est))
  lab <- apply(as.data.frame(obj)[, byvars, drop = FALSE], 1, function(r)
    paste0(byvars, "=", trimws(as.character(r)), collapse = ", "))
  for (i in seq_along(est)) add(case, statistic, variable, lab[i], est[i], s[i], ci[i, 1], ci[i, 2], NA, de[i])
}
addq <- function(case, design, var, ps, domain = "all", alpha = 0.05, ...) {
  for (p in ps) {
    q <- svyquantile(as.formula(paste0("~", var)), design, p, ci = TRUE, alpha = alpha, ...)
    ci <- confint(q)
    add(case, paste0("quantile_", p), var, domain, coef(q), SE(q), ci[1, 1], ci[1, 2], degf(design))
  }
}
addprop <- function(case, formula, design, variable, domain = "all", ...) {
  p <- svyciprop(formula, design, method = "logit", ...); ci <- confint(p)
  add(case, "proportion_logit", variable, domain, coef(p), SE(p), ci[1], ci[2], degf(design))
}
wcsv <- function(x, file) write.csv(x, file, row.names = FALSE, quote = TRUE)

# ---------------------------------------------------------------------------------------------
# (A) nhanes: stratified cluster design, nest=TRUE (PSU ids 1/2 repeat across strata), NAs in HI_CHOL
data(nhanes)
nh <- nhanes
nh$agecat <- as.character(nh$agecat)
nh$chol_cat <- ifelse(nh$HI_CHOL == 1, "high", "normal")     # a text factor with NAs (ours, from HI_CHOL)
wcsv(data.frame(SDMVPSU = nh$SDMVPSU, SDMVSTRA = nh$SDMVSTRA, WTMEC2YR = f17(nh$WTMEC2YR), HI_CHOL = nh$HI_CHOL,
                race = nh$race, agecat = nh$agecat, RIAGENDR = nh$RIAGENDR, chol_cat = nh$chol_cat), "nhanes.csv")
dn <- svydesign(id = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~WTMEC2YR, nest = TRUE, data = nh)
add("nhanes", "degf", "design", "all", degf(dn))
add("nhanes", "n_missing", "HI_CHOL", "all", sum(is.na(nh$HI_CHOL)))
addstat("nhanes", "mean", svymean(~HI_CHOL, dn, na.rm = TRUE, deff = TRUE))
addstat("nhanes", "total", svytotal(~HI_CHOL, dn, na.rm = TRUE, deff = TRUE))
addstat("nhanes_level90", "mean", svymean(~HI_CHOL, dn, na.rm = TRUE), level = 0.90)
addstat("nhanes", "ratio", svyratio(~HI_CHOL, ~RIAGENDR, dn, na.rm = TRUE, deff = TRUE), variable = "HI_CHOL/RIAGENDR")
# proportions of a factor: svymean of a factor gives one proportion per level
m <- svymean(~factor(agecat), dn, deff = TRUE)
addstat("nhanes", "proportion", m, variable = paste0("agecat=", sub("factor\\(agecat\\)", "", names(coef(m)))))
m <- svymean(~factor(race), dn, deff = TRUE)
addstat("nhanes", "proportion", m, variable = paste0("race=", sub("factor\\(race\\)", "", names(coef(m)))))
addprop("nhanes", ~HI_CHOL, dn, "HI_CHOL", na.rm = TRUE)
p <- svyciprop(~HI_CHOL, dn, method = "mean", na.rm = TRUE); ci <- confint(p)   # t on 16 df, not normal
add("nhanes", "proportion_mean", "HI_CHOL", "all", coef(p), SE(p), ci[1], ci[2], degf(dn))
m <- svymean(~chol_cat, dn, na.rm = TRUE, deff = TRUE)       # a factor with NAs
addstat("nhanes", "proportion", m, variable = paste0("chol_cat=", sub("chol_cat", "", names(coef(m)))))
# a domain variable with NAs: svyby leaves those rows out of every domain (they stay in the design)
addby("nhanes_byna", "mean", svyby(~RIAGENDR, ~chol_cat, dn, svymean, deff = TRUE), "RIAGENDR", "chol_cat")
addby("nhanes_byna", "total", svyby(~RIAGENDR, ~chol_cat, dn, svytotal, deff = TRUE), "RIAGENDR", "chol_cat")
addq("nhanes", dn, "HI_CHOL", c(0.5, 0.9), na.rm = TRUE)
addq("nhanes_level90", dn, "HI_CHOL", 0.9, na.rm = TRUE, alpha = 0.10)
for (by in list("RIAGENDR", "agecat", "race", c("RIAGENDR", "agecat"))) {
  f <- as.formula(paste0("~", paste(by, collapse = "+")))
  addby("nhanes", "mean", svyby(~HI_CHOL, f, dn, svymean, na.rm = TRUE, deff = TRUE), "HI_CHOL", by)
  addby("nhanes", "total", svyby(~HI_CHOL, f, dn, svytotal, na.rm = TRUE, deff = TRUE), "HI_CHOL", by)
}
# domain intervals of svyciprop: the whole design's df, and the domain's own (subset) df
for (a in sort(unique(nh$agecat))) {
  sub <- subset(dn, agecat == a)
  p <- svyciprop(~HI_CHOL, sub, method = "logit", na.rm = TRUE); ci <- confint(p)
  add("nhanes_domaindf", "proportion_logit", "HI_CHOL", paste0("agecat=", a), coef(p), SE(p), ci[1], ci[2], degf(sub))
  p <- svyciprop(~HI_CHOL, sub, method = "logit", na.rm = TRUE, df = degf(dn)); ci <- confint(p)
  add("nhanes", "proportion_logit", "HI_CHOL", paste0("agecat=", a), coef(p), SE(p), ci[1], ci[2], degf(dn))
}

addprop("nhanes_level90", ~HI_CHOL, dn, "HI_CHOL", na.rm = TRUE, level = 0.90)
# the same design as JKn replicates (32 replicates, one per PSU): na.rm drops the rows of the
# replicate design, which for replicate weights is the same as giving them weight 0
rn <- as.svrepdesign(dn, type = "JKn")
add("nhanes_jkn", "degf", "design", "all", degf(rn))
addstat("nhanes_jkn", "mean", svymean(~HI_CHOL, rn, na.rm = TRUE, deff = TRUE))
addstat("nhanes_jkn", "total", svytotal(~HI_CHOL, rn, na.rm = TRUE, deff = TRUE))
addprop("nhanes_jkn", ~HI_CHOL, rn, "HI_CHOL", na.rm = TRUE)
# svyciprop's replicate logits come from glm's IRLS (stops at epsilon 1e-8: ~4e-9 off); the
# closed form from the replicate means (same formula, exact) is recorded as a second route
addlogit_exact <- function(case, formula, d, variable, ...) {
  m <- svymean(formula, d, return.replicates = TRUE, ...)
  eta <- qlogis(coef(m)); v <- svrVar(qlogis(m$replicates), d$scale, d$rscales, mse = d$mse, coef = eta)
  ci <- plogis(eta + c(-1, 1) * qt(0.975, degf(d)) * sqrt(as.vector(v)))
  add(case, "proportion_logit_exact", variable, "all", coef(m), SE(m), ci[1], ci[2], degf(d))
}
addlogit_exact("nhanes_jkn", ~HI_CHOL, rn, "HI_CHOL", na.rm = TRUE)
addby("nhanes_jkn", "mean", svyby(~HI_CHOL, ~agecat, rn, svymean, na.rm = TRUE, deff = TRUE), "HI_CHOL", "agecat")
addby("nhanes_jkn", "total", svyby(~HI_CHOL, ~RIAGENDR, rn, svytotal, na.rm = TRUE), "HI_CHOL", "RIAGENDR")
# proportions of a factor in domains: svyby(~factor(agecat), ~RIAGENDR, svymean)
pb <- svyby(~factor(agecat), ~RIAGENDR, dn, svymean, deff = TRUE)
est <- coef(pb); s <- as.vector(as.matrix(SE(pb))); ci <- confint(pb); de <- as.vector(as.matrix(deff(pb)))
for (i in seq_along(est)) {
  nm <- strsplit(names(est)[i], ":")[[1]]
  add("nhanes", "proportion", paste0("agecat=", sub("factor\\(agecat\\)", "", nm[2])), paste0("RIAGENDR=", nm[1]),
      est[i], s[i], ci[i, 1], ci[i, 2], NA, de[i])
}
# quantiles in domains: svyby(~HI_CHOL, ~agecat, svyquantile, na.rm=TRUE) on subsets; the
# domain's own df (all 32 PSUs hold every age group: 16)
for (a in sort(unique(nh$agecat))) addq("nhanes_domaindf", subset(dn, agecat == a), "HI_CHOL", 0.5,
                                        domain = paste0("agecat=", a), na.rm = TRUE)

# zero weights (nonrespondents kept with weight 0, as 'weights compute' writes them): the rows
# without HI_CHOL get w0 = 0; they stay in the design (prob = Inf) and count in no n
nh$w0 <- ifelse(is.na(nh$HI_CHOL), 0, nh$WTMEC2YR)
d0 <- svydesign(id = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~w0, nest = TRUE, data = nh)
add("nhanes_zerow", "degf", "design", "all", degf(d0))
addstat("nhanes_zerow", "mean", svymean(~RIAGENDR, d0, deff = TRUE))
addstat("nhanes_zerow", "total", svytotal(~RIAGENDR, d0, deff = TRUE))
addby("nhanes_zerow", "mean", svyby(~RIAGENDR, ~agecat, d0, svymean, deff = TRUE), "RIAGENDR", "agecat")
addq("nhanes_zerow", d0, "RIAGENDR", 0.5)

# trimming and calibration of the nhanes weights (our own margins, made up: 305 million people)
ub <- 3 * median(weights(dn))
tn <- trimWeights(dn, upper = ub)
add("nhanes_trim", "upper_bound", "design", "all", ub)
add("nhanes_trim", "w_max", "design", "all", max(weights(tn))); add("nhanes_trim", "w_min", "design", "all", min(weights(tn)))
addstat("nhanes_trim", "mean", svymean(~HI_CHOL, tn, na.rm = TRUE))
addstat("nhanes_trim", "total", svytotal(~HI_CHOL, tn, na.rm = TRUE))
addby("nhanes_trim", "mean", svyby(~HI_CHOL, ~agecat, tn, svymean, na.rm = TRUE), "HI_CHOL", "agecat")
lb <- 0.3 * median(weights(dn))
tns <- trimWeights(dn, upper = 2 * median(weights(dn)), lower = lb, strict = TRUE)
add("nhanes_trim_strict", "w_max", "design", "all", max(weights(tns)))
add("nhanes_trim_strict", "w_min", "design", "all", min(weights(tns)))
addstat("nhanes_trim_strict", "mean", svymean(~HI_CHOL, tns, na.rm = TRUE))
addstat("nhanes_trim_strict", "total", svytotal(~HI_CHOL, tns, na.rm = TRUE))
nh_margins <- data.frame(variable = c("RIAGENDR", "RIAGENDR", "agecat", "agecat", "agecat", "agecat"),
                         level = c("1", "2", "(0,19]", "(19,39]", "(39,59]", "(59,Inf]"),
                         total = sprintf("%.0f", c(150e6, 155e6, 82e6, 84e6, 85e6, 54e6)))
wcsv(nh_margins, "nhanes_margins.csv")
pop_sex <- data.frame(RIAGENDR = c(1, 2), Freq = c(150e6, 155e6))
pop_age <- data.frame(agecat = c("(0,19]", "(19,39]", "(39,59]", "(59,Inf]"), Freq = c(82e6, 84e6, 85e6, 54e6))
calnh <- function(case, d) {
  add(case, "w_max", "design", "all", max(weights(d)))
  addstat(case, "mean", svymean(~HI_CHOL, d, na.rm = TRUE))
  addstat(case, "total", svytotal(~HI_CHOL, d, na.rm = TRUE))
  addby(case, "mean", svyby(~HI_CHOL, ~race, d, svymean, na.rm = TRUE), "HI_CHOL", "race")
  addby(case, "total", svyby(~HI_CHOL, ~agecat, d, svytotal, na.rm = TRUE), "HI_CHOL", "agecat")
}
calnh("nhanes_rake", rake(dn, list(~RIAGENDR, ~agecat), list(pop_sex, pop_age),
                          control = list(maxit = 1000, epsilon = 1e-13)))
calnh("nhanes_linear", calibrate(dn, ~factor(RIAGENDR) + agecat,
                                 c(305e6, 155e6, 84e6, 85e6, 54e6), calfun = "linear"))

# ---------------------------------------------------------------------------------------------
# (B) election_pps: PPS sample of 40 counties, with-replacement approximation (probs = p)
data(election)
ep <- election_pps
ep$bush_won <- as.integer(ep$Bush > ep$Kerry)
wcsv(data.frame(County = as.character(ep$County), Bush = ep$Bush, Kerry = ep$Kerry, Nader = ep$Nader,
                votes = ep$votes, p = f17(ep$p), wt = f17(1 / ep$p), bush_won = ep$bush_won), "election_pps.csv")
de <- svydesign(id = ~1, probs = ~p, data = ep)
add("election", "degf", "design", "all", degf(de))
addstat("election", "total", svytotal(~Bush + Kerry + Nader + votes, de, deff = TRUE))
addstat("election", "mean", svymean(~Bush + Kerry, de, deff = TRUE))
addstat("election", "ratio", svyratio(~Bush, ~votes, de, deff = TRUE), variable = "Bush/votes")
addstat("election", "ratio", svyratio(~Kerry, ~votes, de), variable = "Kerry/votes")
addq("election", de, "votes", c(0.5, 0.9))
addprop("election", ~bush_won, de, "bush_won")
addby("election", "total", svyby(~votes, ~bush_won, de, svytotal, deff = TRUE), "votes", "bush_won")
addby("election", "mean", svyby(~Bush, ~bush_won, de, svymean, deff = TRUE), "Bush", "bush_won")
addby("election", "ratio", svyby(~Bush, ~bush_won, de, svyratio, denominator = ~votes), "Bush/votes", "bush_won")
# the same sample as JK1 replicates (each county a PSU, no fpc: scale 39/40)
dej <- as.svrepdesign(de, type = "JK1")
add("election_jk1", "degf", "design", "all", degf(dej))
addstat("election_jk1", "total", svytotal(~Bush + Kerry, dej, deff = TRUE))
addstat("election_jk1", "mean", svymean(~Bush, dej, deff = TRUE))
addstat("election_jk1", "ratio", svyratio(~Bush, ~votes, dej), variable = "Bush/votes")
addq("election_jk1", dej, "votes", 0.5)
addprop("election_jk1", ~bush_won, dej, "bush_won")
addby("election_jk1", "total", svyby(~Bush, ~bush_won, dej, svytotal), "Bush", "bush_won")

# ---------------------------------------------------------------------------------------------
# (C) replicate designs from the api samples
data(api)
pop_stype <- data.frame(stype = names(table(apipop$stype)), Freq = as.vector(table(apipop$stype)))
pop_sw <- data.frame(sch.wide = names(table(apipop$sch.wide)), Freq = as.vector(table(apipop$sch.wide)))
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
repstats <- function(case, d, by, data) {
  add(case, "degf", "design", "all", degf(d))
  add(case, "scale", "design", "all", d$scale)
  addstat(case, "mean", svymean(~api00 + enroll, d, deff = TRUE))
  addstat(case, "total", svytotal(~api00 + enroll, d, deff = TRUE))
  addstat(case, "ratio", svyratio(~api00, ~api99, d), variable = "api00/api99")
  addq(case, d, "api00", c(0.5, 0.9))
  addprop(case, ~I(sch.wide == "Yes"), d, "sch_wide_yes")
  f <- as.formula(paste0("~", by))
  addby(case, "mean", svyby(~api00, f, d, svymean, deff = TRUE), "api00", by)
  addby(case, "total", svyby(~enroll, f, d, svytotal, deff = TRUE), "enroll", by)
  m <- svymean(~sch.wide, d, deff = TRUE)       # Wald proportions of a factor
  addstat(case, "proportion", m, variable = paste0("sch.wide=", sub("sch.wide", "", names(coef(m)))))
  addby(case, "ratio", svyby(~api00, f, d, svyratio, denominator = ~api99), "api00/api99", by)
  # svyby hands the subset (rows dropped) to svyquantile / svyciprop: df = rank of its replicate weights - 1
  for (s in sort(unique(as.character(data[[by]])))) {
    sub <- d[as.character(data[[by]]) == s, ]
    addq(paste0(case, "_domaindf"), sub, "api00", 0.5, domain = paste0(by, "=", s))
    addprop(paste0(case, "_domaindf"), ~I(comp.imp == "Yes"), sub, "comp_imp_yes", domain = paste0(by, "=", s))
  }
}
rc1 <- as.svrepdesign(dclus1, type = "JK1")
repstats("rep_jk1_clus1", rc1, "stype", apiclus1)
rst <- as.svrepdesign(dstrat, type = "JKn")
repstats("rep_jkn_strat", rst, "sch.wide", apistrat)
set.seed(45)
rsb <- as.svrepdesign(dstrat, type = "bootstrap", replicates = 50)
repstats("rep_boot_strat", rsb, "sch.wide", apistrat)
set.seed(45)
rcb <- as.svrepdesign(dclus1, type = "subbootstrap", replicates = 50)
repstats("rep_subboot_clus1", rcb, "stype", apiclus1)
exportrep <- function(d, data, file) {
  w <- weights(d, "analysis")
  out <- data.frame(cds = data$cds, stype = data$stype, dnum = data$dnum, api00 = data$api00, api99 = data$api99,
                    enroll = data$enroll, sch.wide = data$sch.wide, comp.imp = data$comp.imp, pw = f17(d$pweights),
                    check.names = FALSE)
  for (r in seq_len(ncol(w))) out[[paste0("rep_", r)]] <- f17(w[, r])
  wcsv(out, file)
}
addlogit_exact("rep_boot_strat", ~I(as.numeric(sch.wide == "Yes")), rsb, "sch_wide_yes")
exportrep(rsb, apistrat, "apistrat_boot50.csv")
exportrep(rcb, apiclus1, "apiclus1_subboot50.csv")

# two-stage apiclus2 as JK1 replicates: first-stage units only, later fpc dropped (R warns)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
rc2 <- suppressWarnings(as.svrepdesign(dclus2, type = "JK1"))
add("rep_jk1_clus2", "scale", "design", "all", rc2$scale)
add("rep_jk1_clus2", "degf", "design", "all", degf(rc2))
addstat("rep_jk1_clus2", "mean", svymean(~api00 + api99, rc2, deff = TRUE))
addstat("rep_jk1_clus2", "total", svytotal(~enroll, rc2, na.rm = TRUE, deff = TRUE))
addstat("rep_jk1_clus2", "ratio", svyratio(~api00, ~api99, rc2), variable = "api00/api99")
addq("rep_jk1_clus2", rc2, "api00", 0.5)
addby("rep_jk1_clus2", "mean", svyby(~api00, ~stype, rc2, svymean, deff = TRUE), "api00", "stype")
addby("rep_jk1_clus2", "total", svyby(~enroll, ~stype, rc2, svytotal, na.rm = TRUE), "enroll", "stype")

# replicate weights from elsewhere: svrepdesign(type="JK1") on exported columns (no fpc: scale (B-1)/B)
jk0 <- as.svrepdesign(svydesign(id = ~dnum, weights = ~pw, data = apiclus1), type = "JK1")
exportrep(jk0, apiclus1, "apiclus1_jk1.csv")
uj <- svrepdesign(data = apiclus1, repweights = weights(jk0, "analysis"), weights = ~pw, type = "JK1", scale = 14 / 15,
                  combined.weights = TRUE)
add("svrep_jk1_clus1", "scale", "design", "all", uj$scale)
add("svrep_jk1_clus1", "degf", "design", "all", degf(uj))
addstat("svrep_jk1_clus1", "mean", svymean(~api00 + enroll, uj, deff = TRUE))
addstat("svrep_jk1_clus1", "total", svytotal(~enroll, uj))
addby("svrep_jk1_clus1", "mean", svyby(~api00, ~stype, uj, svymean), "api00", "stype")
addq("svrep_jk1_clus1", uj, "api00", 0.5)
addprop("svrep_jk1_clus1", ~I(sch.wide == "Yes"), uj, "sch_wide_yes")

# postStratify on replicate designs: every replicate post-stratified (rake with one margin)
addstat("repps_jk1_clus1", "mean", svymean(~api00 + enroll, postStratify(rc1, ~stype, pop_stype)))
addstat("repps_jk1_clus1", "total", svytotal(~api00 + enroll, postStratify(rc1, ~stype, pop_stype)))
addstat("repps_jkn_strat", "mean", svymean(~api00 + enroll, postStratify(rst, ~sch.wide, pop_sw)))
addstat("repps_jkn_strat", "total", svytotal(~api00 + enroll, postStratify(rst, ~sch.wide, pop_sw)))
addstat("repps_boot_strat", "mean", svymean(~api00 + enroll, postStratify(rsb, ~sch.wide, pop_sw)))
addstat("repps_boot_strat", "total", svytotal(~api00 + enroll, postStratify(rsb, ~sch.wide, pop_sw)))
# 50 subbootstrap replicates of 15 districts have rank 15 (degf 14); post-stratified by stype the
# replicate weights vary within districts and R recomputes degf from their rank
psb <- postStratify(rcb, ~stype, pop_stype)
add("repps_subboot_clus1", "degf", "design", "all", degf(psb))
addstat("repps_subboot_clus1", "mean", svymean(~api00 + enroll, psb))
addq("repps_subboot_clus1", psb, "api00", 0.5)
addprop("repps_subboot_clus1", ~I(sch.wide == "Yes"), psb, "sch_wide_yes")

out <- do.call(rbind, rows)
write.csv(out, "reference45_more.csv", row.names = FALSE, quote = TRUE)
sink("versions45_more.txt")
cat(R.version.string, "\n"); cat("survey", as.character(packageVersion("survey")), "\n")
cat("survey.use_rcpp =", getOption("survey.use_rcpp"), "\n"); print(sessionInfo())
sink()

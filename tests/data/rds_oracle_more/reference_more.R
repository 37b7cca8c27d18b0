# Reference values of R RDS 0.9-10 on its two example data sets not in ../rds_oracle: fauxsycamore
# and fauxtime, and on fauxsycamore_na (fauxsycamore with survey gaps, made below); plus a recomputation
# of shipped ../rds_oracle rows (faux, fauxmadrona) to show that this build of RDS reproduces that oracle.
#
# Run from this folder:  Rscript reference_more.R   (about two minutes)
# Writes data/*.csv, datasets.csv, reference.csv, weights.csv, oracle_check.csv and versions.txt.
# Conventions follow ../rds_oracle/README.md: set.seed(20240905) before every call, R's estimator names,
# EL (R's default analytic SE) for RDS-I / RDS-I (DS) / RDS-II / Gile's SS, Treeboot (RDS-II, SS) and
# Gile (SS) bootstraps with B = 200, arithmetic mean with SRS (B = 200), HCG with its bootstrap (B = 100),
# 0/1 outcomes as factors (to.factor = TRUE: one row per level, as the shipped oracle has them), the
# population size from the data set's attributes, weights scaled to sum to N.
suppressPackageStartupMessages(library(RDS))

SEED <- 20240905
B_SRS <- 200
B_HCG <- 100
dir.create("data", showWarnings = FALSE)

num <- function(x) if (is.null(x) || length(x) == 0) NA else x

# ---------------------------------------------------------------- data sets
data(fauxsycamore, package = "RDS")
data(fauxtime, package = "RDS")
# fauxsycamore_na: fauxsycamore with the gaps of a real survey, as R writes them ("NA"): the outcome
# missing for ids divisible by 7, the network size missing for ids divisible by 11 (R's rule: the
# largest degree) and zero for ids divisible by 13.
fauxsycamore_na <- fauxsycamore
ids_num <- as.numeric(fauxsycamore_na$id)
fauxsycamore_na$disease[ids_num %% 7 == 0] <- NA
fauxsycamore_na$degree[ids_num %% 11 == 0] <- NA
fauxsycamore_na$degree[ids_num %% 13 == 0 & ids_num %% 11 != 0] <- 0L
# fauxsycamore was drawn from fauxsycamore.network (N = 715, help page: "The population had N=715 nodes"),
# although its population.size attributes say 500 / 1000 / 1500.
TRUE_N <- network::network.size(fauxsycamore.network)
TRUE_DISEASE <- network::get.vertex.attribute(fauxsycamore.network, "disease")
SETS <- list(
  fauxsycamore = list(data = fauxsycamore, outcomes = "disease", seed_marker = "seed", true_N = TRUE_N,
                      notes = "RDS example data (RDS Analyst); population network fauxsycamore.network shipped with it"),
  fauxtime = list(data = fauxtime, outcomes = "var1", seed_marker = "seed",
                  notes = "RDS example data with interview times (DATEINTERVIEW, POSIXct UTC); only population.size.mid set"),
  fauxsycamore_na = list(data = fauxsycamore_na, outcomes = "disease", seed_marker = "seed", true_N = TRUE_N,
                         notes = "fauxsycamore with disease NA for id % 7 == 0, degree NA for id % 11 == 0 and 0 for id % 13 == 0 (HCG not computed)")
)

export <- function(name, d) {
  out <- as.data.frame(d)
  class(out) <- "data.frame"
  for (k in names(out)) if (inherits(out[[k]], "POSIXct")) {
    out[[k]] <- format(out[[k]], "%Y-%m-%d %H:%M:%S", tz = attr(out[[k]], "tzone"))
  }
  out$.wave <- get.wave(d)
  out$.seed_id <- as.character(get.seed.id(d))
  out$.n_recruits <- get.number.of.recruits(d)
  out$.is_seed <- as.character(get.rid(d)) == as.character(get.seed.rid(d))
  utils::write.csv(out, file.path("data", paste0(name, ".csv")), row.names = FALSE)
  out
}

ds_rows <- list()
for (name in names(SETS)) {
  d <- SETS[[name]]$data
  export(name, d)
  ds_rows[[name]] <- data.frame(
    dataset = name, file = paste0(name, ".csv"), n = nrow(d), id = attr(d, "id"),
    recruiter.id = attr(d, "recruiter.id"), seed_recruiter_id = SETS[[name]]$seed_marker,
    network.size = attr(d, "network.size.variable"), time = num(attr(d, "time")),
    max.coupons = num(attr(d, "max.coupons")), population.size.low = num(attr(d, "population.size.low")),
    population.size.mid = num(attr(d, "population.size.mid")),
    population.size.high = num(attr(d, "population.size.high")),
    documented_true_N = num(SETS[[name]]$true_N), outcomes = paste(SETS[[name]]$outcomes, collapse = " "),
    notes = SETS[[name]]$notes)
}
utils::write.csv(do.call(rbind, ds_rows), "datasets.csv", row.names = FALSE, na = "")

# ---------------------------------------------------------------- estimates
row <- function(dataset, outcome, level, estimator, estimate, se = NA, lo = NA, hi = NA, uncertainty = NA,
                ci_type = NA, N = NA, N_source = NA, n = NA, n_level = NA, B = NA, seed = NA, deff = NA,
                boot_mean = NA, boot_sd = NA, notes = NA) {
  data.frame(dataset = dataset, outcome = outcome, level = level, estimator = estimator, estimate = estimate,
             se = se, ci_low = lo, ci_high = hi, uncertainty = uncertainty, ci_type = ci_type, N_used = N,
             N_source = N_source, n = n, n_level = n_level, B = B, seed = seed, design_effect = deff,
             boot_mean = boot_mean, boot_sd = boot_sd, status = "ok", notes = notes, stringsAsFactors = FALSE)
}

interval_rows <- function(dataset, outcome, r, estimator, uncertainty, ci_type, N, n, B = NA, boot = NULL,
                          notes = NA, N_source = "attribute") {
  m <- matrix(r$interval, ncol = 6, byrow = FALSE)
  lv <- names(r$interval)[seq_len(nrow(m))]
  if (is.null(lv) || all(lv == outcome)) lv <- rep("", nrow(m))  # numeric outcome: one mean
  out <- list()
  for (k in seq_len(nrow(m))) {
    bm <- if (is.matrix(boot)) mean(boot[, k]) else NA
    bs <- if (is.matrix(boot)) stats::sd(boot[, k]) else NA
    out[[k]] <- row(dataset, outcome, lv[k], estimator, m[k, 1], m[k, 5], m[k, 2], m[k, 3], uncertainty, ci_type,
                    N, N_source, n, m[k, 6], B, SEED, m[k, 4], bm, bs, notes)
  }
  do.call(rbind, out)
}

bs_replicates <- function(x) {  # bootstrap replicate matrix (B x levels), if R kept one
  b <- attr(x, "bsresult")
  if (is.list(b)) b <- b$bsests
  if (is.matrix(b)) b else NULL
}

el_estimate <- function(d, outcome, estimator, N) {
  set.seed(SEED)
  switch(estimator,
         "RDS-I" = RDS.I.estimates(d, outcome, N = N, to.factor = TRUE),
         "RDS-I (DS)" = RDS.I.estimates(d, outcome, N = N, smoothed = TRUE, to.factor = TRUE),
         "RDS-II" = RDS.II.estimates(d, outcome, N = N, to.factor = TRUE),
         "Gile's SS" = RDS.SS.estimates(d, outcome, N = N, to.factor = TRUE))
}

reference <- list()
weights <- list()
for (name in names(SETS)) {
  d <- SETS[[name]]$data
  N <- attr(d, "population.size.mid")
  n <- nrow(d)
  for (y in SETS[[name]]$outcomes) {
    tab <- table(d[[y]])
    for (lv in names(tab)) {
      reference[[length(reference) + 1]] <- row(name, y, lv, "Sample proportion", as.numeric(tab[lv]) / sum(tab),
                                                n = n, n_level = as.numeric(tab[lv]),
                                                notes = "unweighted, NA outcomes dropped")
    }
    for (est in c("RDS-I", "RDS-I (DS)", "RDS-II", "Gile's SS")) {
      reference[[length(reference) + 1]] <- interval_rows(name, y, el_estimate(d, y, est, N), est, "EL", "normal",
                                                          N, n)
    }
    set.seed(SEED)
    am <- RDS.bootstrap.intervals(d, y, weight.type = "Arithmetic Mean", uncertainty = "SRS", N = N,
                                  number.of.bootstrap.samples = B_SRS, to.factor = TRUE)
    reference[[length(reference) + 1]] <- interval_rows(name, y, am, "Arithmetic Mean", "SRS",
                                                        "t (normal, point +/- z*sd)", N, n, B = B_SRS,
                                                        boot = bs_replicates(am))
    # bootstraps as in ../rds_oracle (B = 200): Treeboot for RDS-II and SS, Gile's SS bootstrap
    for (bs in list(c("RDS-II", "Treeboot"), c("Gile's SS", "Treeboot"), c("Gile's SS", "Gile"))) {
      set.seed(SEED)
      b <- RDS.bootstrap.intervals(d, y, weight.type = bs[1], uncertainty = bs[2], N = N,
                                   number.of.bootstrap.samples = B_SRS, to.factor = TRUE)
      reference[[length(reference) + 1]] <- interval_rows(name, y, b, bs[1], bs[2], "t (normal, point +/- z*sd)",
                                                          N, n, B = B_SRS, boot = bs_replicates(b))
    }
    if (!is.null(SETS[[name]]$true_N)) {
      # the truth, and SS at the documented true N (the attribute N = 1000 overstates it)
      truth <- table(TRUE_DISEASE) / length(TRUE_DISEASE)
      for (lv in names(truth)) {
        reference[[length(reference) + 1]] <- row(name, y, lv, "TRUE_POPULATION", as.numeric(truth[lv]),
                                                  N = TRUE_N, N_source = "population_network", n = n,
                                                  notes = "vertex attribute 'disease' of fauxsycamore.network")
      }
      reference[[length(reference) + 1]] <- interval_rows(name, y, el_estimate(d, y, "Gile's SS", TRUE_N),
                                                          "Gile's SS", "EL", "normal", TRUE_N, n,
                                                          N_source = "population_network")
    }
    if (anyNA(d[[y]])) next  # HCG left out on the data set with gaps
    set.seed(SEED)
    hc <- RDS.bootstrap.intervals(d, y, weight.type = "HCG", uncertainty = "HCG", N = N,
                                  number.of.bootstrap.samples = B_HCG, to.factor = TRUE)
    reference[[length(reference) + 1]] <- interval_rows(
      name, y, hc, "HCG", "HCG", "t (normal, point +/- z*sd)", N, n, B = B_HCG, boot = bs_replicates(hc),
      notes = if (has.recruitment.time(d)) "recruitment time attribute used" else "no recruitment time: wave order used")
  }
  # weights: outcome-free estimators once, RDS-I / RDS-I (DS) / HCG per outcome
  ids <- as.character(d[[attr(d, "id")]])
  deg <- d[[attr(d, "network.size.variable")]]
  add_w <- function(outcome, est, w) {
    w <- as.numeric(w)
    weights[[length(weights) + 1]] <<- data.frame(dataset = name, id = ids, outcome = outcome, estimator = est,
                                                  N_used = N, N_source = "attribute", seed = SEED,
                                                  network_size = deg, weight = w * N / sum(w))
  }
  for (est in c("RDS-II", "Arithmetic Mean", "Gile's SS")) {
    set.seed(SEED)
    add_w("", est, compute.weights(d, weight.type = est, N = N))
  }
  for (y in SETS[[name]]$outcomes) for (est in c("RDS-I", "RDS-I (DS)", "HCG")) {
    if (est == "HCG" && anyNA(d[[y]])) next
    set.seed(SEED)
    add_w(y, est, compute.weights(d, weight.type = est, N = N, outcome.variable = y))
  }
}
utils::write.csv(do.call(rbind, reference), "reference.csv", row.names = FALSE, na = "")
utils::write.csv(do.call(rbind, weights), "weights.csv", row.names = FALSE, na = "")

# ---------------------------------------------------------------- does this build reproduce ../rds_oracle?
shipped <- utils::read.csv("../rds_oracle/reference.csv", colClasses = c(level = "character"))
check <- list()
data(faux, package = "RDS")
data(fauxmadrona, package = "RDS")
for (case in list(list("faux", faux, "X"), list("faux", faux, "Y"), list("fauxmadrona", fauxmadrona, "disease"))) {
  d <- case[[2]]
  for (est in c("RDS-I", "RDS-I (DS)", "RDS-II", "Gile's SS")) {
    ours <- interval_rows(case[[1]], case[[3]], el_estimate(d, case[[3]], est, 1000), est, "EL", "normal", 1000,
                          nrow(d))
    old <- shipped[shipped$dataset == case[[1]] & shipped$outcome == case[[3]] & shipped$estimator == est &
                     shipped$uncertainty == "EL" & shipped$N_source == "attribute", ]
    old <- old[match(ours$level, old$level), ]
    check[[length(check) + 1]] <- data.frame(
      dataset = case[[1]], outcome = case[[3]], level = ours$level, estimator = est,
      estimate_rebuilt = ours$estimate, estimate_shipped = old$estimate, se_rebuilt = ours$se, se_shipped = old$se,
      deff_rebuilt = ours$design_effect, deff_shipped = old$design_effect,
      abs_diff_estimate = abs(ours$estimate - old$estimate), abs_diff_se = abs(ours$se - old$se),
      abs_diff_deff = abs(ours$design_effect - old$design_effect))
  }
}
check <- do.call(rbind, check)
utils::write.csv(check, "oracle_check.csv", row.names = FALSE)
print(check[, c("dataset", "outcome", "level", "estimator", "abs_diff_estimate", "abs_diff_se", "abs_diff_deff")])

pk <- c("RDS", "ergm", "network", "statnet.common", "isotone", "anytime", "Hmisc", "igraph", "nnls", "lpSolveAPI",
        "trust", "rle")
writeLines(c(R.version.string, paste0("platform: ", R.version$platform),
             paste0(pk, " ", vapply(pk, function(p) as.character(utils::packageVersion(p)), "")),
             paste0("RNGkind: ", paste(RNGkind(), collapse = ", "))), "versions.txt")

# Writes the example data sets of mixedjax.datasets from R's own objects, so that factor levels keep
# R's order and coding. Run from this folder: Rscript make_datasets.R (made with R 4 and lme4 1.1-31).
# kb07 (MixedModels.jl's benchmark data) and the chapter's simulated data (seed_*) are not R objects:
# they are read from the project's reference folder and their grouping factors get levels in
# numeric order, as R's factor() of the integers that made them.
suppressMessages(library(lme4))
library(jsonlite)

describe <- function(x) {
  lapply(x, function(column) {
    if (is.ordered(column)) list(kind = "ordered", levels = levels(column))
    else if (is.factor(column)) list(kind = "factor", levels = levels(column))
    else if (is.integer(column)) list(kind = "integer")
    else list(kind = "numeric")
  })
}

full_precision <- function(x) {
  doubles <- vapply(x, is.double, logical(1))
  x[doubles] <- lapply(x[doubles], function(column) sprintf("%.17g", column))
  x
}

write_set <- function(name, x, source) {
  path <- gzfile(paste0(name, ".csv.gz"), "w")
  write.csv(full_precision(x), path, row.names = FALSE)
  close(path)
  list(source = source, rows = nrow(x), columns = describe(x))
}

as_numbered_factor <- function(x) factor(x, levels = sort(unique(as.integer(x))))

catalogue <- list()
for (name in c("sleepstudy", "cbpp", "Dyestuff", "Dyestuff2", "Pastes", "Penicillin", "VerbAgg",
               "InstEval", "grouseticks", "cake")) {
  catalogue[[name]] <- write_set(name, get(name), paste0("lme4 ", packageVersion("lme4"), ", data(", name, ")"))
}

reference <- file.path("..", "..", "..", "shared", "reference", "data")
kb07 <- read.csv(file.path(reference, "kb07.csv"))
kb07$G <- factor(kb07$G)
kb07$H <- factor(kb07$H)
catalogue[["kb07"]] <- write_set("kb07", kb07,
  "Kronmueller & Barr (2007), as MixedModels.jl's benchmark data (shared/reference/data/kb07.csv)")

chapter <- c(seed_normal = "seed1_normal", seed_gamma = "seed2_gamma", seed_inverse_gaussian = "seed3_invgauss")
for (name in names(chapter)) {
  x <- read.csv(file.path(reference, paste0(chapter[[name]], ".csv")))
  x$grupo <- as_numbered_factor(x$grupo)
  catalogue[[name]] <- write_set(name, x,
    paste0("the lme4 chapter's simulated data (shared/reference/data/", chapter[[name]], ".csv)"))
}

writeLines(toJSON(catalogue, auto_unbox = TRUE, pretty = TRUE, digits = NA), "datasets.json")

#!/usr/bin/env bash
# Builds the pkgdown site offline into docs/ (gitignored) and fails (exit 1) on a missing reference topic,
# an article missing from _pkgdown.yml, or a relative link in the built HTML whose target does not exist.
#
# It documents the dpvae that R finds (after tools/setup.sh: the system library). To document another
# copy, install it into a library and point R_LIBS at it:
#   R CMD INSTALL -l /tmp/sitelib . && R_LIBS=/tmp/sitelib bash tools/site.sh
# Examples and vignettes run on one libtorch thread (DPVAE_SITE_THREADS to change).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$(date +%s)

Rscript --vanilla -e '
  if (!requireNamespace("pkgdown", quietly = TRUE))
    stop("pkgdown is missing: apt-get install r-cran-pkgdown (tools/setup.sh does)")
  if (!requireNamespace("dpvae", quietly = TRUE))
    stop("dpvae is not installed in the libraries R sees: R CMD INSTALL it (or set R_LIBS)")
  want <- read.dcf("DESCRIPTION", fields = "Version")[[1]]
  have <- as.character(utils::packageVersion("dpvae"))
  if (want != have) stop("installed dpvae ", have, " is not this source (", want, "): reinstall it first")
  pkgdown::check_pkgdown()     # every exported topic and every vignette listed in _pkgdown.yml
'

# Offline: options(pkgdown.internet = FALSE) skips pkgdown's CRAN/Bioconductor look-ups (set it to TRUE
# with DPVAE_SITE_INTERNET=1); examples and vignettes use the bundled data only.
DPVAE_THREADS=${DPVAE_SITE_THREADS:-1} Rscript --vanilla -e '
  options(rmarkdown.html_vignette.check_title = FALSE,
          pkgdown.internet = identical(Sys.getenv("DPVAE_SITE_INTERNET"), "1"))
  invisible(dpvae::libtorch_info(num.threads = as.integer(Sys.getenv("DPVAE_THREADS"))))
  pkgdown::build_site(lazy = FALSE, preview = FALSE, install = FALSE, new_process = FALSE)
'

# Relative links (href/src) in the built HTML whose target file is missing.
Rscript --vanilla -e '
  files <- list.files("docs", pattern = "[.]html$", recursive = TRUE, full.names = TRUE)
  if (!length(files)) stop("docs/ holds no HTML: the build failed")
  broken <- character()
  for (f in files) {
    html <- paste(readLines(f, warn = FALSE), collapse = "\n")
    refs <- regmatches(html, gregexpr("(href|src)=\"[^\"]*\"", html))[[1]]
    refs <- sub("^(href|src)=\"([^\"]*)\"$", "\\2", refs)
    refs <- refs[!grepl("^([a-zA-Z][a-zA-Z0-9+.-]*:|//|#)", refs) & nzchar(refs)]
    for (r in unique(refs)) {
      path <- sub("[?#].*$", "", utils::URLdecode(r))
      if (!nzchar(path)) next
      target <- file.path(dirname(f), path)
      if (grepl("/$", path) || dir.exists(target)) target <- file.path(target, "index.html")
      if (!file.exists(target)) broken <- c(broken, sprintf("%s -> %s", f, r))
    }
  }
  cat(sprintf("checked %d HTML files\n", length(files)))
  if (length(broken)) {
    cat("broken relative links:\n", paste0("  ", broken, "\n"), sep = "")
    quit(status = 1)
  }
'
echo "site built in docs/ ($(($(date +%s) - t0)) s)"

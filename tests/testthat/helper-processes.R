# Run R code in a fresh R process (new environment variables, a time limit so a hang fails instead of
# stalling the suite); returns its output lines.
run_fresh_r <- function(code, env = character(), timeout = 120) {
  script <- tempfile(fileext = ".R")
  on.exit(unlink(script))
  writeLines(code, script)
  suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE, stderr = TRUE, env = env,
                           timeout = timeout))
}

# Evaluate `code` with options set, restoring them after (withr is not a dependency).
withr_options <- function(new, code) {
  old <- options(new)
  on.exit(options(old))
  force(code)
}

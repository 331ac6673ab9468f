test_that("libtorch_info reports version, path, devices and threads", {
  info <- libtorch_info()
  # the version is read from the linked libtorch folder, not a constant
  files <- file.path(info$path, c("build-version", "VERSION"))
  expect_equal(info$version, trimws(readLines(files[file.exists(files)][1], n = 1L)))
  expect_match(info$version, "^[0-9]+\\.[0-9]+")
  expect_true(dir.exists(info$path))
  expect_true(file.exists(file.path(info$path, "lib", "libtorch_cpu.so")))
  expect_true("cpu" %in% info$devices)
  expect_gte(info$threads, 1L)
  old <- info$threads
  expect_equal(libtorch_info(num.threads = 1)$threads, 1L)
  libtorch_info(num.threads = old)
  expect_error(libtorch_info(num.threads = 0), class = "dpvae_error_input")
})

library(testthat)
library(dpvae)

test_check("dpvae")

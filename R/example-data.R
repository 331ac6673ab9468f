#' Example data: mouse olfactory bulb, Spatial Transcriptomics
#'
#' 262 spots of the mouse olfactory bulb (Stahl et al. 2016) as shipped by the
#' MERINGUE package (GPL-3), restricted to the 1500 most variable genes: raw
#' counts, spot coordinates (array units) and the annotated layer of each spot.
#'
#' @return A list with `counts` (genes x spots `dgCMatrix`), `coords` (spots x
#'   2 matrix) and `region` (factor; `NA` for 2 unannotated spots).
#' @source Stahl PL et al. (2016) Science 353:78-82; MERINGUE `data/mOB.rda`,
#'   <https://github.com/JEFworks-Lab/MERINGUE>. See `inst/extdata/README.md`.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' dim(mob$counts)
#' table(mob$region)
dpvae_example_data <- function() {
  readRDS(system.file("extdata", "mob.rds", package = "dpvae", mustWork = TRUE))
}

#' Example data sets
#'
#' Two small real data sets ship with the package:
#' * `"mob"` (default): 262 spots of the mouse olfactory bulb (Stahl et al.
#'   2016) as shipped by the MERINGUE package (GPL-3), restricted to the 1500
#'   most variable genes: raw counts, spot coordinates (array units) and the
#'   annotated layer of each spot.
#' * `"hippo"`: a spatial reference and an scRNA-seq query of the mouse
#'   hippocampus from the spacexr package (GPL-3): 313 Visium spots x 276
#'   genes with their coordinates (full-resolution image pixels), and 510
#'   single cells x 307 genes (DropViz P60 hippocampus, 30 cells of each of 17
#'   types). The two share 124 genes. The scRNA-seq cells have no
#'   coordinates.
#'
#' @param name Which data set.
#' @return For `"mob"`: a list with `counts` (genes x spots `dgCMatrix`),
#'   `coords` (spots x 2 matrix) and `region` (factor; `NA` for 2 unannotated
#'   spots). For `"hippo"`: a list with `spatial` (a list with `counts`, genes
#'   x spots `dgCMatrix`, and `coords`, spots x 2 matrix) and `scrna` (a list
#'   with `counts`, genes x cells `dgCMatrix`, and `cell_type`, a factor).
#' @source `"mob"`: Stahl PL et al. (2016) Science 353:78-82; MERINGUE
#'   `data/mOB.rda`, <https://github.com/JEFworks-Lab/MERINGUE>. `"hippo"`:
#'   spacexr (Cable DM et al. 2022, Nature Biotechnology 40:517-526)
#'   `inst/extdata/SpatialRNA/VisiumVignette` and
#'   `inst/extdata/Reference/Visium_Ref`, <https://github.com/dmcable/spacexr>.
#'   See `inst/extdata/README.md`.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' dim(mob$counts)
#' table(mob$region)
#' hippo <- dpvae_example_data("hippo")
#' dim(hippo$spatial$counts)
#' table(hippo$scrna$cell_type)
dpvae_example_data <- function(name = c("mob", "hippo")) {
  if (!is.character(name) || !length(name) || !name[[1]] %in% c("mob", "hippo")) {
    dpvae_abort("{.arg name} must be {.val mob} or {.val hippo}.")
  }
  name <- check_choice(name, "name")
  readRDS(system.file("extdata", paste0(name, ".rds"), package = "dpvae", mustWork = TRUE))
}

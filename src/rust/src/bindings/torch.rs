//! What libtorch this build uses.
use extendr_api::prelude::*;

/// @noRd
#[extendr]
fn libtorch_info_impl() -> Robj {
    let cuda = tch::Cuda::is_available();
    list!(
        cuda_available = cuda,
        cuda_device_count = if cuda {
            tch::Cuda::device_count() as i32
        } else {
            0
        },
        threads = tch::get_num_threads(),
        bf16_native = crate::vae::precision::bf16_native(),
        interop_threads = tch::get_num_interop_threads()
    )
    .into()
}

/// @noRd
#[extendr]
fn set_threads_impl(n: i32) {
    if n > 0 && !crate::threads::single_thread_if_forked() {
        tch::set_num_threads(n);
    }
}

extendr_module! {
    mod torch_bindings;
    fn libtorch_info_impl;
    fn set_threads_impl;
}

//! Products with the expression matrix in bfloat16.
//!
//! A minibatch step spends most of its time in four products of the batch's expression
//! (cells × genes) with a genes × hidden weight: the encoder's first layer, its weight gradient,
//! and the fused Gaussian term's X·W and Xᵀ·H. On CPUs with native bfloat16 arithmetic
//! (AVX512-BF16, AMX) libtorch's oneDNN runs them 3–5× faster in bfloat16 with single-precision
//! accumulation (bench/RESULTS-speed.md, session 9). The rounding of each operand (2⁻⁹ relative) is far
//! below a minibatch's sampling noise; held-out accuracy is unchanged (bench/RESULTS-scale.md).
//! Everything else — biases, activations, the dp term, Adam, the monitor and every encoding that
//! gives coordinates (double precision, `Encoder`) — stays as it is.
use tch::{Kind, Tensor};

/// Whether this CPU has native bfloat16 arithmetic (elsewhere libtorch emulates it, slowly):
/// AVX512-BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5) with AVX-512 enabled by the OS. Read from
/// CPUID because `is_x86_feature_detected!("avx512bf16")` needs a newer Rust than our MSRV.
pub fn bf16_native() -> bool {
    #[cfg(target_arch = "x86_64")]
    #[allow(unused_unsafe)] // `__cpuid_count` is a safe function in newer Rust
    {
        use std::arch::x86_64::{__cpuid_count, __get_cpuid_max};
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return false;
        }
        // SAFETY: CPUID exists on every x86_64 CPU; the leaf and sub-leaf are checked first.
        unsafe {
            __get_cpuid_max(0).0 >= 7
                && __cpuid_count(7, 0).eax >= 1
                && __cpuid_count(7, 1).eax & (1 << 5) != 0
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The batch's expression as the products' operand: bfloat16 when asked, else unchanged.
pub fn operand(x: &Tensor, bf16: bool) -> Tensor {
    if bf16 {
        x.to_kind(Kind::BFloat16)
    } else {
        x.shallow_clone()
    }
}

/// `a · b` in `a`'s precision, returned in single precision: a bfloat16 `a` (from `operand`)
/// rounds `b` to bfloat16 too; a single-precision `a` is the plain product, bit for bit.
pub fn product(a: &Tensor, b: &Tensor) -> Tensor {
    if a.kind() == Kind::BFloat16 {
        a.matmul(&b.to_kind(Kind::BFloat16)).to_kind(Kind::Float)
    } else {
        a.matmul(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn relative_error(got: &Tensor, want: &Tensor) -> f64 {
        let d = (got.to_kind(Kind::Double) - want.to_kind(Kind::Double)).norm();
        d.double_value(&[]) / want.to_kind(Kind::Double).norm().double_value(&[])
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn native_bf16_as_the_kernel_reports_it() {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
        let listed = flags.split_whitespace().any(|f| f == "avx512_bf16");
        assert_eq!(bf16_native(), listed);
    }

    #[test]
    fn single_precision_operand_is_the_plain_product() {
        tch::manual_seed(3);
        let x = Tensor::randn([17, 40], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([40, 6], (Kind::Float, Device::Cpu));
        let got = product(&operand(&x, false), &w);
        assert!(got.equal(&x.matmul(&w)));
    }

    #[test]
    fn bfloat16_product_is_close_and_single_precision() {
        tch::manual_seed(4);
        let x = Tensor::randn([64, 300], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([300, 12], (Kind::Float, Device::Cpu));
        let xb = operand(&x, true);
        assert_eq!(xb.kind(), Kind::BFloat16);
        let got = product(&xb, &w);
        assert_eq!(got.kind(), Kind::Float);
        let err = relative_error(&got, &x.matmul(&w));
        // two operand roundings and one of the result, each <= 2^-9 relative
        assert!(err > 0.0 && err < 1e-2, "relative error {err}");
        let xt = product(
            &xb.tr(),
            &Tensor::randn([64, 5], (Kind::Float, Device::Cpu)),
        );
        assert_eq!(xt.size(), vec![300, 5]);
    }
}

//! Class names and the best classes of a classifier's output, for
//! `resc run --top K`: the 1000 ImageNet names are shipped inside the binary
//! (torchvision's `ResNet50_Weights.IMAGENET1K_V1.meta["categories"]`, in
//! class order), other models bring a label file, one name per line.

/// The ImageNet-1k class names, one per line, class 0 first.
const IMAGENET: &str = include_str!("../data/imagenet_classes.txt");

/// The ImageNet-1k class names, as torchvision names them.
pub fn imagenet() -> Vec<String> {
    names(IMAGENET)
}

/// The names of a label file: one per line (`\r\n` endings accepted); empty
/// lines at the end are not names.
pub fn names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text.lines().map(|l| l.trim_end_matches('\r').to_string()).collect();
    while names.last().is_some_and(|l| l.trim().is_empty()) {
        names.pop();
    }
    names
}

/// The softmax of `logits`, computed stably (the largest logit subtracted,
/// summed in f64). A NaN or infinite logit makes every probability NaN, so
/// that nothing looks confident by accident.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if logits.iter().any(|v| !v.is_finite()) {
        return vec![f32::NAN; logits.len()];
    }
    let exps: Vec<f64> = logits.iter().map(|&v| f64::from(v - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|&e| (e / sum) as f32).collect()
}

/// The `k` largest scores as (class, score), largest first; equal scores in
/// class order, NaN last.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
        (false, false) => b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)),
        (x, y) => x.cmp(&y).then(a.0.cmp(&b.0)),
    });
    ranked.truncate(k);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_imagenet_names_are_torchvisions() {
        let names = imagenet();
        assert_eq!(names.len(), 1000);
        assert_eq!((names[0].as_str(), names[281].as_str(), names[999].as_str()), ("tench", "tabby", "toilet tissue"));
    }

    #[test]
    fn label_files_keep_inner_lines_and_drop_trailing_blank_ones() {
        assert_eq!(names("cat\r\ndog\n\nbird\n\n"), ["cat", "dog", "", "bird"]);
        assert_eq!(names(""), Vec::<String>::new());
    }

    #[test]
    fn softmax_is_stable_and_sums_to_one() {
        let p = softmax(&[1000.0, 1000.0, 0.0]);
        assert_eq!(p[0], 0.5);
        assert_eq!(p[1], 0.5);
        assert_eq!(p[2], 0.0);
        let p = softmax(&[0.5, -1.0, 2.0, 0.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(softmax(&[1.0, f32::NAN]).iter().all(|v| v.is_nan()));
        assert!(softmax(&[1.0, f32::INFINITY]).iter().all(|v| v.is_nan()));
        assert!(softmax(&[]).is_empty());
    }

    #[test]
    fn top_k_is_sorted_with_ties_in_class_order_and_nan_last() {
        assert_eq!(top_k(&[0.1, 0.7, 0.7, f32::NAN, 0.2], 4), [(1, 0.7), (2, 0.7), (4, 0.2), (0, 0.1)]);
        assert_eq!(top_k(&[1.0, 2.0], 5), [(1, 2.0), (0, 1.0)]);
    }
}

//! Generated from notebooks/01_antiberty_attention_ig.ipynb by tests/integration/notebooks.rs; do not edit.
//! Run from the repository root: `cargo run --example notebook_01_antiberty_attention_ig`.

#[rustfmt::skip] // kept line for line as in the notebook
fn main() {
    use protscope::model::{ProteinModel, fetch};
    let dir = fetch::fetch_antiberty(&fetch::default_cache_dir()).unwrap();
    let model = ProteinModel::load(&dir, &candle_core::Device::Cpu).unwrap();
    let records = protscope::io::read_fasta("data/antibodies.fasta".as_ref()).unwrap();
    let seqs: Vec<_> = records.iter().map(|r| model.encode_sequence(&r.id, &r.sequence, None).unwrap()).collect();
    let refs: Vec<_> = seqs.iter().collect();

    println!("{:?}", protscope::model::outputs::predictions_frame(&model, &refs).unwrap());

    let maps = protscope::attention::attention_maps(&model, &refs[..1]).unwrap();
    let filter = protscope::attention::AttentionFilter { layers: vec![3], heads: vec![0], min_weight: Some(0.2) };
    println!("{:?}", protscope::attention::attention_frame(&maps[0], &filter).unwrap());

    use protscope::attribution::{integrated_gradients, IgOptions};
    let ig = integrated_gradients(&model, &seqs[2], "species", 1, &IgOptions { steps: 50, latent: true, ..Default::default() }).unwrap();
    println!("F(x) = {:.3}, F(x') = {:.3}, delta = {:.2e}", ig.f_input, ig.f_baseline, ig.delta);
    println!("{:?}", protscope::attribution::tables::relevance_frame(&ig).unwrap().head(Some(12)));

    use protscope::attribution::LatentDerivative;
    let exact = integrated_gradients(&model, &seqs[2], "species", 1, &IgOptions { steps: 50, latent: true, latent_derivative: LatentDerivative::Exact, ..Default::default() }).unwrap();
    let largest = exact.latent.iter().fold(0f64, |m, v| m.max(v.abs()));
    let gap = exact.latent.iter().zip(&ig.latent).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    println!("finite differences vs exact: largest difference {:.2} % of the largest head relevance", 100.0 * gap / largest);
}

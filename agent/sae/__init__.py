"""Sparse autoencoders on the proposing model's residual stream (the optional `veriloop[sae]` extra).

- `corpus`: offline text that exists on every machine (tasks, the shared benchmark files, Python's stdlib);
- `collect`: residual-stream activations at one layer, in shards on disk, with a held-out split;
- `train`: a TopK SAE trained with SAELens's own trainer, saved in SAELens's format;
- `hook`: a forward hook that encodes activations while proposals are generated (and steers features);
- `report`: accepted against rejected proposals, feature by feature, with the baselines that keep it honest.
"""

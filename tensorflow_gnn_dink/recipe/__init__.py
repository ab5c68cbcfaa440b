"""The Dink-Net recipe: pretrain, k-means, fine-tune, assign, evaluate, export.

Built on the library (`tensorflow_gnn_dink`), which never imports it:

  * `config`: the recipe's `ml_collections` config (`configs/*.py` start
    from `config.default_config()`);
  * `data`, `loaders`: graphs in memory (and a synthetic generator), and
    readers of on-disk formats;
  * `propagation`: `A_hat X` computed once for node-row training;
  * `input_modes`: full-graph or node-row training behind one interface;
  * `selection`: label-free model choice by graph modularity, k-means;
  * `evaluation`: ACC, NMI, ARI, F1, modularity, conductance;
  * `stages`: the recipe's stages; `pipeline.run`: all of them in order;
  * `cli`: the command line (`tfgnn-dink`, `python -m tensorflow_gnn_dink`).
"""

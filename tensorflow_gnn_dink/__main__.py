"""`python -m tensorflow_gnn_dink COMMAND`: the same as `tfgnn-dink COMMAND`.

Commands: train, predict, evaluate, export (`--help` lists them and their
flags). With no command, train runs the default recipe on a built-in
synthetic graph.
"""
from tensorflow_gnn_dink.recipe import cli

cli.run_main()

complete --keep-order --exclusive --command vault --arguments "(COMPLETE=fish vault -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"

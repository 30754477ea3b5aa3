"""One module per ``pyloop`` command, each with the one function the parser
calls: it takes the parsed arguments, prints what the command reports and
returns the exit status."""

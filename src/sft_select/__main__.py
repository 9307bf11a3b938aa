from sft_select.cli.app import entry

if __name__ == "__main__":  # worker processes (engine.workers) import this module again
    entry()

"""``python -m transforms.tag TITLE SUMMARY BODY LANG``: tag one story and print the result as JSON."""

import json
import sys

from transforms.tag.tagger import Tagger

if __name__ == "__main__":
    _args = sys.argv[1:] + [None] * 4
    _result = Tagger.from_paths().tag(_args[0], _args[1], _args[2], _args[3])
    print(json.dumps(_result.__dict__, ensure_ascii=False, indent=2))

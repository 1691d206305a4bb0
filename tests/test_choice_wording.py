"""A value outside its choices is worded one way everywhere (``errors.one_of``): job fields, CLI options and the
scripts' argparse choices all read ``must be one of <choices>, got '<value>'``. Before, ``--by`` / ``--objective``
said "got 'x'", ``--emit``'s style "(got 'x')", ``--arrivals`` "one of ..., got" and the scripts' ``--device``
"not 'x'"."""
from __future__ import annotations

import re

import pytest

from conftest import invoke_main, refused

ONE_WAY = re.compile(r"^error: [^:]+: (launcher style )?must be one of .+, got '[^']*'$")


@pytest.mark.parametrize("args", [
    ["recommend", "examples/llama3-70b.yaml", "--objective", "speed"],
    ["compare", "examples/llama3-70b.yaml", "--by", "colour"],
    ["recommend", "examples/llama3-70b.yaml", "--emit", "pbs"],
    ["recommend", "examples/llama3-70b.yaml", "--emit", "torchrun:deepspeed"],
    ["serve", "examples/serving-llama3-8b-chat.yaml", "--arrivals", "bursty"],
])
def test_cli_bad_choice_reads_one_way(args):
    line = refused(invoke_main(*args))
    assert ONE_WAY.match(line), line


def test_script_bad_choice_reads_as_the_cli_does():
    from planner.present.script_args import usage_line

    line = usage_line("argument --device: invalid choice: 'gpux' (choose from 'auto', 'cuda', 'cpu')")
    assert ONE_WAY.match(line), line

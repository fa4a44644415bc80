"""Accuracy by the sentence that holds each answer, from `kvfuse eval-qa --answers FILE`.

    python3 tools/demo/misses.py ANSWERS.jsonl [...]

Each prompt's sentences are matched against every template of world.py. A question is labelled
by the template of the sentence that states its answer (single-hop, coreference, multi-hop: the
company's city) or, for a comparison, by how many of the two people's age sentences are held
out. A held-out template read far worse than the seen ones is a model that learnt the wording,
not the fact: this is how the held-out age and company-city sentences were found weak.
"""
import collections
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world  # noqa: E402


def compile_template(text):
    """A template as a regex whose groups are named by its placeholders."""
    pattern = re.escape(text)
    for slot in re.findall(r"\{(\w+)\}", text):
        pattern = pattern.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>.+?)", 1)
    return re.compile(pattern)


def all_templates():
    """(fact, template text, held out?, regex) for every sentence world.py can write."""
    out = []
    held_last = [world.PERSON_TEMPLATES, world.PRONOUN_TEMPLATES, world.COMPANY_TEMPLATES, world.CITY_TEMPLATES]
    for table in held_last:
        for fact, texts in table.items():
            out += [(fact, t, i == len(texts) - 1, compile_template(t)) for i, t in enumerate(texts)]
    for table in [world.TRAIN_ONLY_TEMPLATES, world.TRAIN_ONLY_COMPANY_TEMPLATES]:
        for fact, texts in table.items():
            out += [(fact, t, False, compile_template(t)) for t in texts]
    return out


def stated_facts(chunks, templates):
    """Every (fact, template, held, groups) stated by a sentence of the prompt's chunks."""
    facts = []
    for chunk in chunks:
        body = chunk.strip().removeprefix("Document: ")
        for sentence in re.split(r"(?<=\.)\s+", body):
            for fact, text, held, regex in templates:
                m = regex.fullmatch(sentence)
                if m:
                    facts.append((fact, text, held, m.groupdict()))
    return facts


def label(record, templates):
    facts = stated_facts(record["chunks"], templates)
    question = record["question"]
    if record["kind"] == "compare":
        people = re.match(r"Who is older, (.*) or (.*)\?", question).groups()
        held = sum(any(f == "age" and h and g.get("name") == p for f, _, h, g in facts) for p in people)
        return f"{held} of 2 age sentences held out"
    answering = [(text, held, groups) for fact, text, held, groups in facts if groups.get(fact) == record["expected"]]
    if not answering:
        return "answer stated nowhere"
    # The sentence about the asked entity when the answer's value is stated more than once.
    named = [a for a in answering if any(v in question for v in a[2].values())]
    text, held, _ = (named or answering)[0]
    return f"held out: {text}" if held else "a seen sentence"


def main():
    templates = all_templates()
    for path in sys.argv[1:]:
        counts = collections.defaultdict(lambda: [0, 0])
        for line in open(path):
            record = json.loads(line)
            key = (record["mode"], record["kind"], label(record, templates))
            counts[key][0] += record["answer"] == record["expected"]
            counts[key][1] += 1
        print(f"== {path}")
        for (mode, kind, name), (right, asked) in sorted(counts.items()):
            print(f"{mode:12} {kind:8} {right:4}/{asked:<4} {100 * right / asked:5.1f}%  {name}")


if __name__ == "__main__":
    main()

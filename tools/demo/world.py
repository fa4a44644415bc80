#!/usr/bin/env python3
"""The synthetic document world of kvfuse's demo model (issue: the bundled demo model).

People, companies and cities with attributes and relations, each described by a document
written from varied sentence templates with filler prose; questions about them:
  single-hop   the fact sits in one document,
  multi-hop    the answer needs two documents (a person's employer, then its city),
  comparison   two people's ages,
  coreference  the fact follows a chunk boundary and names the person only by pronoun
               (its two chunks stay adjacent in a prompt; distractors are never pronoun-only).
Training and evaluation use disjoint entities (full names, company names) and partly disjoint
templates (held out). Training draws a fresh small world per prompt (`episode`), so that facts
cannot be memorised: only read.
Everything is drawn from a seeded random.Random, so a seed gives the same world.

    python3 tools/demo/world.py --seed 1 --out models/demo-world   # writes docs/questions as JSONL
"""
import argparse
import collections
import functools
import json
import math
import pathlib
import random
import re

FIRST = {"f": ["Alice", "Maria", "Nora", "Elena", "Ruth", "Ines", "Clara", "Vera", "Lena", "Ada", "Iris", "Mila",
               "Zoe", "Tara", "Greta", "Hanna", "Olga", "Paula", "Rosa", "Sofia", "Uma", "Wanda", "Yara", "Edith",
               "Beatrix", "Camille", "Dagny", "Esther", "Freya", "Gisela", "Helga", "Imogen", "Julia", "Katja",
               "Lucia", "Marta", "Nadia", "Ophelia", "Petra", "Renata", "Sabine", "Thea", "Ursula", "Viola"],
         "m": ["Bruno", "Carl", "David", "Emil", "Felix", "Hugo", "Ivan", "Jonas", "Karl", "Leon", "Marco", "Nils",
               "Oscar", "Pavel", "Quinn", "Rafael", "Samuel", "Tomas", "Victor", "Walter", "Xavier", "Yusuf", "Otto", "Lars",
               "Anton", "Boris", "Casimir", "Dmitri", "Erik", "Florian", "Gustav", "Henrik", "Igor", "Jakob",
               "Konrad", "Ludwig", "Matthias", "Norbert", "Oswald", "Philipp", "Reinhold", "Stefan", "Theodor", "Ulrich"]}
LAST = ["Smith", "Novak", "Garcia", "Meyer", "Rossi", "Kowalski", "Dubois", "Jensen", "Silva", "Costa", "Berg",
        "Horvat", "Petrov", "Larsen", "Moreau", "Fischer", "Romano", "Weber", "Nagy", "Bauer", "Vogel", "Santos",
        "Lindqvist", "Okafor", "Tanaka", "Ivanova", "Murphy", "Keller", "Ortiz", "Brandt", "Albrecht", "Baranski",
        "Castellano", "Dimitrov", "Eriksen", "Fontaine", "Gallagher", "Hoffmann", "Jablonski", "Kovacs",
        "Lombardi", "Marchetti", "Nakamura", "Oyelaran", "Pellegrini", "Quintero", "Rasmussen", "Schneider",
        "Takahashi", "Underwood", "Vasquez", "Whitfield", "Yamamoto", "Zielinski"]
CITIES = ["Aldmere", "Brackwater", "Corvale", "Dunhollow", "Eastmarch", "Fairhaven", "Glenrock", "Highcliff",
          "Ironbridge", "Juniper Bay", "Kingsford", "Lowvale", "Millbrook", "Northwatch", "Oakridge", "Pinecrest",
          "Queensport", "Redfield", "Stonehaven", "Thornbury", "Umberlee", "Valewood", "Westbrook", "Yarrow",
          "Ashcombe", "Blackmoor", "Cindervale", "Dovercourt", "Elmstead", "Foxborough", "Greywater", "Hollowmere",
          "Larkspur", "Mosswick", "Nettlefield", "Ravenscar", "Saltmarsh", "Tidewater", "Wyndham", "Zephyr Cove"]
COUNTRIES = ["Norland", "Estovia", "Valdoria", "Meridia", "Castelle", "Ostmark"]
COMPANY_A = ["Blue", "Iron", "Silver", "North", "Bright", "Red", "Green", "Golden", "Swift", "Stone", "Clear", "Deep"]
COMPANY_B = ["Works", "Labs", "Foods", "Motors", "Systems", "Textiles", "Shipping", "Energy", "Media", "Tools"]
COMPANY_NAMES = [f"{a} {b}" for a in COMPANY_A for b in COMPANY_B]
INDUSTRY = {"Works": "construction", "Labs": "research", "Foods": "food", "Motors": "cars", "Systems": "software",
            "Textiles": "clothing", "Shipping": "logistics", "Energy": "energy", "Media": "publishing", "Tools": "hardware"}
JOBS = ["baker", "nurse", "pilot", "teacher", "engineer", "painter", "lawyer", "chemist", "carpenter", "librarian",
        "farmer", "dentist", "architect", "translator", "plumber", "journalist"]
PETS = ["cat", "dog", "parrot", "rabbit", "turtle", "hamster", "goldfish", "pony", "lizard", "ferret"]
COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "silver", "brown"]
FILLER = [
    "The streets there are busy in the morning.", "Most weekends are quiet.", "The winters can be long and grey.",
    "Many people enjoy walking by the river.", "Local markets open early on Saturdays.",
    "The library holds old maps of the region.", "Trains run every hour to the coast.",
    "A small festival takes place each spring.", "The old bridge was repaired last year.",
    "Tea is more popular than coffee in that area.", "There is a museum near the main square.",
    "Evenings are often spent with friends.", "The hills nearby are good for cycling.",
    "A narrow canal winds through the old quarter.", "Autumn brings heavy rain and golden leaves.",
    "The harbour smells of salt, tar and fresh bread.", "Children play football behind the cathedral.",
    "Bicycles outnumber automobiles on most avenues.", "Several bakeries compete for the best pastries.",
    "Visitors often praise the botanical gardens.", "An orchestra rehearses every Thursday evening.",
    "The university attracts students from abroad.", "Fishermen mend their nets along the quay.",
    "Snow rarely settles for more than a week.", "Lanterns light the alleys during the winter market.",
    "Historians argue about the founding of the town.", "A ferry crosses the bay twice a day.",
    "Thunderstorms sweep in from the western mountains.", "Vineyards cover the southern slopes.",
    "Most shops close early on Sundays.", "The observatory offers guided tours at night.",
    "Pigeons gather around the marble fountain.", "Neighbours usually greet each other warmly.",
    "Craftsmen still weave baskets by hand there.", "The railway station was rebuilt after a fire.",
    "Summer concerts fill the amphitheatre.", "Wild strawberries grow along the hiking trails.",
    "An ancient lighthouse guards the rocky cape.", "Locals debate politics over strong coffee.",
    "Chess tournaments are held in the town hall.", "Foggy mornings give way to bright afternoons.",
    "Merchants once traded spices and silk here.", "The tram network reaches every district.",
    "Sailors repaint their boats before every regatta.", "A blacksmith still shoes horses near the mill.",
    "The cathedral bells ring at noon and at dusk.", "Beekeepers sell honey from wooden carts.",
    "Rooftop gardens have become fashionable lately.", "The riverbank floods almost every decade.",
    "Street musicians perform beneath the clock tower.", "An annual marathon closes the central boulevard.",
    "Shepherds drive their flocks across the moorland.", "The bookshop on the corner sells rare manuscripts.",
    "Cobblestones make cycling uncomfortable downtown.", "A volcanic spring feeds the public baths.",
    "Puppeteers entertain crowds at the harvest fair.", "The municipal archive survived two earthquakes.",
    "Orchards of plums and cherries surround the valley.", "Glassblowers demonstrate their craft to tourists.",
    "A mysterious shipwreck lies beneath the lagoon.", "Cartographers once mapped the coastline from here.",
    "Kayakers explore the limestone caves in summer.", "The zoological garden breeds rare penguins.",
]

# Sentence templates per fact. The last template of each list is held out for evaluation.
PERSON_TEMPLATES = {
    "city": ["{name} lives in {city}.", "{name} has made a home in {city}.", "These days {name} resides in {city}.",
             "{name} settled in the city of {city}."],
    "job": ["{name} works as a {job}.", "By profession, {name} is a {job}.", "{name} earns a living as a {job}.",
            "{name} has the job of {job}."],
    "company": ["{name} is employed by {company}.", "{name} works for {company}.", "The employer of {name} is {company}.",
                "{name} draws a salary from {company}."],
    "pet": ["{name} owns a {pet}.", "{name} keeps a {pet} at home.", "At home, {name} looks after a {pet}.",
            "A {pet} lives with {name}."],
    "color": ["The favorite color of {name} is {color}.", "{name} likes the color {color} best.",
              "{name} prefers {color} to any other color.", "Above all colors, {name} loves {color}."],
    "age": ["{name} is {age} years old.", "{name} turned {age} this year.", "At {age}, {name} is still very active.",
            "{name} has reached the age of {age}."],
}
# More sentences per fact for training only: with three a model bound names by the templates'
# wording and read a held-out one wrongly (kvfuse eval-qa: 100% on seen templates, 25-50% on
# held-out ones after the first binding run). Some put the value before the name.
TRAIN_ONLY_TEMPLATES = {
    "city": ["{name} moved to {city} some years ago.", "The home of {name} is in {city}.",
             "In {city} you will find {name} at home.", "{name} is a resident of {city}.", "{name} rents a flat in {city}."],
    "company": ["{name} has a job at {company}.", "At {company}, {name} is a valued employee.",
                "{name} joined {company} some years ago.", "{company} employs {name}.",
                "{name} collects a paycheck from {company}."],
    "color": ["{name} adores the color {color}.", "The color {name} likes most is {color}.",
              "Asked about colors, {name} always picks {color}.", "{name} is fond of the color {color}.",
              "Of all colors, {color} pleases {name} most."],
    "age": ["{name} celebrated birthday number {age} recently.", "The age of {name} is {age}.",
            "Aged {age}, {name} still enjoys long walks.", "{name} is now {age}.", "Now {age}, {name} lives well.",
            # Added after the held-out age sentence was read right in 33-57% of single-hop
            # questions (other held-out sentences: 89-100%) and a comparison with one of them in
            # 48-59% (with none, 88-92%); none shares its wording.
            "{name} has lived for {age} years.", "{name} counts {age} years of life.", "{name} has seen {age} summers.",
            "{name} will be {age} for a few more months.", "{name} is {age} and in good health.",
            # Added after model S still read the held-out age sentence right in about half of the
            # single-hop questions, answering a namesake's age from a seen sentence instead: the
            # seen "The age of {name} is {age}." is the only one where "of" leads to a value and it
            # leads to the name. These put the age after other words; none shares the held-out wording.
            "{name} is a person of {age} years.", "The number of years {name} has lived is {age}.",
            "Asked about age, {name} says {age}.", "{name} has now got to {age}.",
            "In years, {name} has come to {age}."],
}
TRAIN_ONLY_COMPANY_B = ["Group", "Partners", "Holdings", "Studios", "Mills", "Farms", "Logistics", "Brewing",
                        "Robotics", "Optics", "Pharma", "Mining", "Airlines", "Bank", "Dynamics", "Foundry",
                        "Press", "Trading", "Marine", "Solar", "Networks", "Designs", "Ceramics", "Furniture",
                        "Chemicals", "Records", "Insurance", "Hotels", "Bakery", "Electric"]
# First words of training companies only: with the twelve real ones alone, every pair but the
# held-out ones was seen many times, and a model learnt that "Blue" is never followed by "Systems".
TRAIN_ONLY_COMPANY_A = ["Amber", "Bold", "Crystal", "Royal", "Rapid", "Noble", "Polar", "Summit", "Harbor", "Maple",
                        "Cedar", "Eagle", "Falcon", "Lunar", "Prime", "Union", "Vivid", "Atlas", "Copper", "Crimson",
                        "Emerald", "Granite", "Coastal", "Orbit", "Pioneer", "Quarry", "Sterling", "Tower", "Vertex",
                        "Willow"]
SYLLABLES = ["ka", "lo", "ven", "dri", "mo", "xa", "tor", "bel", "quin", "ru", "sa", "fen", "gar", "ni", "pel", "zo",
             "dar", "li", "mon", "tu", "ver", "hol", "cam", "pra"]
PRONOUN_TEMPLATES = {  # the coreference sentences: the person is only a pronoun
    "pet": ["{Pron} owns a {pet}.", "{Pron} keeps a {pet} at home.", "At home, {pron} looks after a {pet}.",
            "{Pron} shares the house with a {pet}."],
    "job": ["{Pron} works as a {job}.", "By profession, {pron} is a {job}.", "{Pron} earns a living as a {job}.",
            "{Pron} has the job of {job}."],
}
COMPANY_TEMPLATES = {
    "city": ["{company} is based in {city}.", "The offices of {company} are in {city}.",
             "{company} has its headquarters in {city}.", "You will find {company} in {city}."],
    "industry": ["{company} is a {industry} company.", "{company} works in {industry}.",
                 "The business of {company} is {industry}.", "{company} operates in the {industry} sector."],
    "year": ["{company} was founded in {year}.", "{company} dates back to {year}.", "{company} opened its doors in {year}.",
             "Since {year}, {company} has been in business."],
}
# Training-only company sentences, for the reason of TRAIN_ONLY_TEMPLATES: with the three seen
# city sentences, multi-hop answers were right in 86-93% of prompts whose company used a seen
# one and in 25-35% (end to end) where it used the held-out one, a distractor company's seen
# sentence drawing the answer (validation half and a second eval world, models N, O, R).
# Written after reading the held-out sentence, so none of them shares its wording.
TRAIN_ONLY_COMPANY_TEMPLATES = {
    "city": ["{company} is located in {city}.", "The head office of {company} is in {city}.",
             "In {city} stands the main office of {company}.", "{company} runs its business from {city}.",
             "{company} has been at home in {city} for decades."],
    "industry": ["{company} makes its money in {industry}.", "The trade of {company} is {industry}."],
    "year": ["{company} began trading in {year}.", "The founders of {company} started it in {year}."],
}
CITY_TEMPLATES = {"country": ["{city} is a city in {country}.", "{city} lies in {country}.",
                              "{city} belongs to {country}.", "The city of {city} is part of {country}."]}

NAMED_FACTS = ["city", "company", "color", "age"]  # sentences naming the person (chunk "a")
QUESTIONS = {
    "city": "Where does {name} live?", "job": "What is the job of {name}?", "company": "Which company does {name} work for?",
    "pet": "What pet does {name} have?", "color": "What is the favorite color of {name}?", "age": "How old is {name}?",
    "company_city": "Where is {company} based?", "industry": "What industry is {company} in?",
    "year": "When was {company} founded?", "country": "In which country is {city}?",
}


_partitions = {}


def partition(seed, items, held):
    """The same split of `items` for both splits of a seed: eval gets the second half."""
    key = (seed, tuple(items))
    if key not in _partitions:
        _partitions[key] = random.Random(seed).sample(items, len(items))
    shuffled = _partitions[key]
    return shuffled[len(shuffled) // 2:] if held else shuffled[:len(shuffled) // 2]


def full_names_of(seed, held):
    return {g: partition(seed, [f"{f} {l}" for f in FIRST[g] for l in LAST], held) for g in "fm"}


def make_world(rng, seed, split, n_people, n_companies, names_and_genders=None):
    """People with their facts, companies, and every city's country. `names_and_genders`:
    [(name, gender)] for the people, else drawn from the split's full names."""
    held = split == "eval"
    full_names = full_names_of(seed, held)
    company_names = partition(seed, COMPANY_NAMES, held)
    names, people = set(), []
    for name, g in names_and_genders or []:
        names.add(name)
        people.append({"name": name, "gender": g})
    while len(people) < n_people and not names_and_genders:
        g = rng.choice("fm")
        name = rng.choice(full_names[g])
        if name not in names:
            names.add(name)
            people.append({"name": name, "gender": g})
    companies = []
    for c in rng.sample(company_names, min(n_companies, len(company_names))):
        name = c if held else training_company_name(rng, seed)
        companies.append({"name": name, "city": rng.choice(CITIES), "industry": INDUSTRY[c.split()[1]],
                          "year": rng.randint(1890, 2015)})
    cities = {c: rng.choice(COUNTRIES) for c in CITIES}
    for p in people:
        p.update(city=rng.choice(CITIES), job=rng.choice(JOBS), company=rng.choice(companies)["name"],
                 pet=rng.choice(PETS), color=rng.choice(COLORS), age=rng.randint(20, 80))
    return people, companies, cities


def invented_word(rng):
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def training_company_name(rng, seed):
    """A company name of the training split that a model cannot guess word by word, so it must
    copy both words. Trained on the names of its split only, a model learnt which words follow
    "Silver" and answered "Silver Media" for the held-out "Silver Textiles"; trained on
    invented second words only, it answered "Silver Vendar"; with a real first word always and
    any second word but the held-out pairs, it still learnt the missing pairs (20 of 38
    held-out companies right). So: a real first word a quarter of the time, else a train-only
    or invented one; an invented second word a quarter of the time, else any real one, never
    a held-out pair."""
    invented = functools.partial(invented_word, rng)
    while True:
        u = rng.random()
        first = rng.choice(COMPANY_A) if u < 0.25 else rng.choice(TRAIN_ONLY_COMPANY_A) if u < 0.85 else invented()
        second = invented() if rng.random() < 0.25 else rng.choice(COMPANY_B + TRAIN_ONLY_COMPANY_B)
        name = first + " " + second
        if name not in held_out_company_names(seed):
            return name


@functools.cache
def held_out_company_names(seed):
    return frozenset(partition(seed, COMPANY_NAMES, True))


def pick_template(rng, templates, held, train_only=()):
    """Eval text: the held-out last template half the time; training: any other, or a train-only one."""
    if held:
        return templates[-1] if rng.random() < 0.5 else rng.choice(templates[:-1])
    return rng.choice(templates[:-1] + list(train_only))


def person_docs(rng, p, held):
    """Two chunks: the second names the person only by pronoun (coreference)."""
    first, second = [], []
    for fact in NAMED_FACTS:
        first.append(pick_template(rng, PERSON_TEMPLATES[fact], held, TRAIN_ONLY_TEMPLATES[fact]).format(**p))
    pron = "she" if p["gender"] == "f" else "he"
    for fact in ["job", "pet"]:
        second.append(pick_template(rng, PRONOUN_TEMPLATES[fact], held).format(pron=pron, Pron=pron.capitalize(), **p))
    rng.shuffle(first)
    first.insert(rng.randint(0, len(first)), rng.choice(FILLER))
    second.append(rng.choice(FILLER))
    rng.shuffle(second)
    return [" ".join(first), " ".join(second)]


def company_doc(rng, c, held):
    s = [pick_template(rng, COMPANY_TEMPLATES[f], held, TRAIN_ONLY_COMPANY_TEMPLATES[f]).format(company=c["name"], **c)
         for f in ["city", "industry", "year"]]
    rng.shuffle(s)
    s.insert(rng.randint(0, len(s)), rng.choice(FILLER))
    return " ".join(s)


def ask(rng, kind, i, people, companies, docs_of_company, facts=NAMED_FACTS):
    """A question of `kind` about person i: its text, answer, the documents that hold the facts,
    and its hops: (document, value, whose value) in the order a reader finds them (training aims
    attention there; a comparison has none, its answer is a name of the question)."""
    p = people[i]
    if kind == "single":
        fact = rng.choice(facts)
        return {"question": QUESTIONS[fact].format(**p), "answer": str(p[fact]), "docs": [f"p{i}a"], "kind": kind,
                "hops": [(f"p{i}a", str(p[fact]), p["name"])]}
    if kind == "coref":
        # The two chunks stay adjacent and in order, and no other pronoun-only chunk
        # may be in the prompt (the "she" would be ambiguous).
        fact = rng.choice(["job", "pet"])
        return {"question": QUESTIONS[fact].format(**p), "answer": p[fact], "docs": [f"p{i}a", f"p{i}b"],
                "adjacent": True, "kind": kind, "hops": [(f"p{i}b", p[fact], p["name"])]}
    if kind == "multi":
        c = next(c for c in companies if c["name"] == p["company"])
        return {"question": f"Where is the company that {p['name']} works for based?", "answer": c["city"],
                "docs": [f"p{i}a", docs_of_company[c["name"]]], "kind": kind,
                "hops": [(f"p{i}a", c["name"], p["name"]), (docs_of_company[c["name"]], c["city"], c["name"])]}
    others = [j for j in range(len(people)) if people[j]["age"] != p["age"]]
    if not others:
        return None
    o = people[rng.choice(others)]
    j = people.index(o)
    return {"question": f"Who is older, {p['name']} or {o['name']}?",
            "answer": p["name"] if p["age"] > o["age"] else o["name"], "docs": [f"p{i}a", f"p{j}a"], "kind": kind,
            "hops": [], "ages": [(f"p{i}a", str(p["age"]), p["name"]), (f"p{j}a", str(o["age"]), o["name"])]}


KINDS = ["single", "single", "multi", "compare", "coref"]
# Training asks for the employer twice as often as for another fact: the hardest single-hop
# answer to copy, two words, the second not guessable from the first.
TRAIN_FACTS = NAMED_FACTS + ["company"]


def documents(rng, people, companies, held):
    docs = {}
    for i, p in enumerate(people):
        docs[f"p{i}a"], docs[f"p{i}b"] = person_docs(rng, p, held)
    for i, c in enumerate(companies):
        docs[f"c{i}"] = company_doc(rng, c, held)
    return docs, {c["name"]: f"c{i}" for i, c in enumerate(companies)}


def titles_of(people, companies):
    """Document id -> the name of whom or what it is about."""
    titles = {f"p{i}{part}": p["name"] for i, p in enumerate(people) for part in "ab"}
    titles.update({f"c{i}": c["name"] for i, c in enumerate(companies)})
    return titles


def build(seed, split, n_people, n_companies, n_questions, draw=None):
    """The fixed world of a split: its documents, questions about them, and document titles.
    Another `draw` gives another world of the same split's names and companies."""
    rng = random.Random(seed * 1000 + (1 if split == "eval" else 0) if draw is None else draw)
    held = split == "eval"
    people, companies, _ = make_world(rng, seed, split, n_people, n_companies)
    docs, docs_of_company = documents(rng, people, companies, held)
    questions = []
    while len(questions) < n_questions:
        q = ask(rng, rng.choice(KINDS), rng.randrange(len(people)), people, companies, docs_of_company)
        if q:
            questions.append(q)
    return docs, questions, titles_of(people, companies)


def episode(rng, seed, n_chunks, n_questions, kinds=KINDS):
    """A fresh small world of the training split, as one prompt: `n_chunks` chunks (the facts of a
    first question plus distractors, shuffled) and up to `n_questions` questions of `kinds`
    answerable from them, their hops by chunk index. Every episode draws new facts, so a model can
    only answer by reading."""
    people, companies, _ = make_world(rng, seed, "train", 8, 3)
    docs, docs_of_company = documents(rng, people, companies, False)
    first = None
    while first is None:
        first = ask(rng, rng.choice(kinds), rng.randrange(len(people)), people, companies, docs_of_company, TRAIN_FACTS)
    groups = [first["docs"]] if first.get("adjacent") else [[d] for d in first["docs"]]
    pool = [d for d in docs if not d.endswith("b") and d not in first["docs"]]
    for d in rng.sample(pool, max(0, min(len(pool), n_chunks - len(first["docs"])))):
        groups.append([d])
    rng.shuffle(groups)
    order = [d for g in groups for d in g]
    questions = ask_more(rng, first, order, n_questions, people, companies, docs_of_company, kinds)
    return [docs[d] for d in order], questions


def ask_more(rng, first, order, n_questions, people, companies, docs_of_company, kinds):
    """`first` and up to n_questions - 1 further questions of `kinds` answerable from the
    documents `order` (prompt order), their hops by chunk index."""
    questions, tries = [first], 0
    while len(questions) < n_questions and tries < 80:
        tries += 1
        q = ask(rng, rng.choice(kinds), rng.randrange(len(people)), people, companies, docs_of_company, TRAIN_FACTS)
        if q and all(d in order for d in q["docs"]) and q["question"] not in [x["question"] for x in questions]:
            questions.append(q)
    for q in questions:
        q["hops"] = [(order.index(d), value, subject) for d, value, subject in q["hops"]]
        q["ages"] = [(order.index(d), age, name) for d, age, name in q.get("ages", [])]
    return questions


def namesakes(rng, seed, n_people):
    """Training people who share first and last names, as a search for one person's name
    brings them: three first names per gender, four real last names and an invented one
    (a name to copy that no model can guess), never a held-out full name."""
    held = {n for names in full_names_of(seed, True).values() for n in names}
    lasts = rng.sample(LAST, 4) + [invented_word(rng)]
    pairs = [(f"{f} {l}", g) for g in "fm" for f in rng.sample(FIRST[g], 3) for l in lasts]
    pairs = [(n, g) for n, g in pairs if n not in held]
    return rng.sample(pairs, min(n_people, len(pairs)))


# The product's lexical ranking (rag/bm25_index.cpp): its stop words, k1, b and terms.
STOP_WORDS = frozenset("a an the and or of to in on at by for with is are was were be been it its this that as from "
                       "does do did what which who whom where when how has have had than there their s".split())


def search_terms(text):
    """Lower-cased words but stop words, plus each two capitalised words joined by one space as
    one more term (a full name), as rag/bm25_index.cpp's AnalyzeTerms."""
    words = [(m.group(), m.start(), m.end()) for m in re.finditer(r"[A-Za-z0-9]+", text)]
    terms = []
    for i, (w, start, end) in enumerate(words):
        if w.lower() in STOP_WORDS:
            continue
        terms.append(w.lower())
        if i + 1 < len(words):
            nxt, nstart, _ = words[i + 1]
            if w[0].isupper() and nxt[0].isupper() and nstart == end + 1 and nxt.lower() not in STOP_WORDS:
                terms.append(f"{w.lower()} {nxt.lower()}")
    return terms


def bm25_ranking(query, texts, k1=1.2, b=0.75):
    """Ids of `texts` (id -> indexed text) by BM25 score for `query`, best first; unmatched last."""
    terms = {i: collections.Counter(search_terms(t)) for i, t in texts.items()}
    mean_length = sum(sum(c.values()) for c in terms.values()) / max(1, len(terms))
    df = collections.Counter(w for c in terms.values() for w in c)
    asked = list(dict.fromkeys(search_terms(query)))  # in order: the same sums in every process
    def score(i):
        c, n = terms[i], sum(terms[i].values())
        return sum(math.log(1 + (len(terms) - df[w] + 0.5) / (df[w] + 0.5)) * c[w] * (k1 + 1) /
                   (c[w] + k1 * (1 - b + b * n / mean_length)) for w in asked if c[w])
    return sorted(texts, key=lambda i: -score(i))


def retrieval_episode(rng, seed, n_chunks, n_questions, kinds=KINDS):
    """A prompt as `kvfuse ask` builds it from a search: a world of namesakes (12 people, 8
    companies), its documents ranked by the product's BM25 for a first question (each indexed
    under its page's heading, the person's or the company's name, as ingest does), the best
    `n_chunks` taken with the documents that answer it and the company a top-2 hit names (the
    product's link hop); a person's two chunks adjacent and in order, the companies together
    (one page), pages ordered by their best hit, the best last (rag/retrieve's InPromptOrder);
    further questions answerable from them. Ranked by the product's terms, the distractors
    match the question's words as retrieval's do ("Where is the company ... works for based?"
    brings "X Works is based in ..."). Returns (chunks, questions) as `episode`."""
    people, companies, _ = make_world(rng, seed, "train", 0, 8, namesakes(rng, seed, 12))
    docs, docs_of_company = documents(rng, people, companies, False)
    first = None
    while first is None:
        first = ask(rng, rng.choice(kinds), rng.randrange(len(people)), people, companies, docs_of_company, TRAIN_FACTS)
    titles = titles_of(people, companies)
    ranked = bm25_ranking(first["question"], {d: f"{titles[d]}\n{t}" for d, t in docs.items()})
    linked = [docs_of_company[people[int(d[1:-1])]["company"]] for d in ranked[:2] if d.startswith("p")]
    chosen = list(dict.fromkeys(first["docs"] + ranked[:2] + linked + ranked[2:]))[:max(n_chunks, len(first["docs"]))]
    page = lambda d: d[:-1] if d.startswith("p") else "companies"
    best = {}
    for d in ranked:
        if d in chosen:
            best.setdefault(page(d), len(best))
    order = sorted(chosen, key=lambda d: (-best[page(d)], d))
    return [docs[d] for d in order], ask_more(rng, first, order, n_questions, people, companies, docs_of_company, kinds)


def binding_episode(rng, seed, n_people, n_questions, n_facts):
    """The single-hop task stripped to its core: a document per person of the same `n_facts`
    kinds of fact in bare sentences, no filler, questions about all of them. Every person has a
    value of each asked kind, so only the name tells which to copy; a model learns to bind
    names here first. (Kinds drawn per person let the asked kind alone find the answer in most
    prompts of one or two facts: the names then went unused.)"""
    people, _, _ = make_world(rng, seed, "train", n_people, 8)  # 8 companies: employers rarely shared
    kinds = rng.sample(NAMED_FACTS, n_facts)
    chunks, questions = [], []
    for p in people:
        facts = rng.sample(kinds, n_facts)
        chunks.append(" ".join(pick_template(rng, PERSON_TEMPLATES[f], False, TRAIN_ONLY_TEMPLATES[f]).format(**p)
                               for f in facts))
        questions += [{"question": QUESTIONS[f].format(**p), "answer": str(p[f]), "hops": [(len(chunks) - 1, str(p[f]), p["name"])]}
                      for f in facts]
    rng.shuffle(questions)
    return chunks, questions[:n_questions]


def write_split(directory, split, docs, questions):
    """<split>-docs.jsonl ({"id", "text"} per line) and <split>-questions.jsonl."""
    directory = pathlib.Path(directory)
    with open(directory / f"{split}-docs.jsonl", "w") as f:
        for k, v in docs.items():
            f.write(json.dumps({"id": k, "text": v}) + "\n")
    with open(directory / f"{split}-questions.jsonl", "w") as f:
        for q in questions:
            f.write(json.dumps({k: v for k, v in q.items() if k not in ("hops", "ages")}) + "\n")


def write_corpus(directory, docs, titles):
    """The world as files for `kvfuse ingest`: a Markdown page per person (its two documents
    as paragraphs) and one page of companies, a section each."""
    directory = pathlib.Path(directory)
    (directory / "people").mkdir(parents=True, exist_ok=True)
    for old in (directory / "people").glob("*.md"):
        old.unlink()
    companies = ["# Companies\n"]
    for doc_id, text in docs.items():
        if doc_id.startswith("c"):
            companies.append(f"## {titles[doc_id]}\n\n{text}\n")
        elif doc_id.endswith("a"):
            name = titles[doc_id]
            page = f"# {name}\n\n{text}\n\n{docs[doc_id[:-1] + 'b']}\n"
            (directory / "people" / (name.lower().replace(" ", "-") + ".md")).write_text(page)
    (directory / "companies.md").write_text("\n".join(companies))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="models/demo-world")
    ap.add_argument("--people", type=int, default=400)
    ap.add_argument("--companies", type=int, default=60)
    ap.add_argument("--questions", type=int, default=2000)
    ap.add_argument("--eval-draw", type=int,
                    help="write only another eval world of the held-out names and companies, drawn with this seed "
                         "(more validation questions; `kvfuse eval-qa --world OUT` also needs models/demo-world/format.json)")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.eval_draw is not None:
        docs, questions, titles = build(args.seed, "eval", args.people // 4, args.companies, args.questions // 4, args.eval_draw)
        write_split(out, "eval", docs, questions)
        write_corpus(out / "corpus", docs, titles)
        return
    for split, n_people, n_questions in [("train", args.people, args.questions * 20), ("eval", args.people // 4, args.questions // 4)]:
        docs, questions, titles = build(args.seed, split, n_people, args.companies, n_questions)
        write_split(out, split, docs, questions)
        if split == "eval":
            write_corpus(out / "corpus", docs, titles)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The synthetic document world of kvfuse's demo model (issue: the bundled demo model).

People, companies and cities with attributes and relations, each described by a document
written from varied sentence templates with filler prose; questions about them:
  single-hop   the fact sits in one document,
  multi-hop    the answer needs two documents (a person's employer, then its city),
  comparison   two people's ages,
  coreference  the fact follows a chunk boundary and names the person only by pronoun
               (its two chunks stay adjacent in a prompt; distractors are never pronoun-only).
Training and evaluation use disjoint entities and partly disjoint templates (held out).
Everything is drawn from a seeded random.Random, so a seed gives the same world.

    python3 tools/demo/world.py --seed 1 --out models/demo-world   # writes docs/questions as JSONL
"""
import argparse
import json
import pathlib
import random

FIRST = {"f": ["Alice", "Maria", "Nora", "Elena", "Ruth", "Ines", "Clara", "Vera", "Lena", "Ada", "Iris", "Mila",
               "Zoe", "Tara", "Greta", "Hanna", "Olga", "Paula", "Rosa", "Sofia", "Uma", "Wanda", "Yara", "Edith"],
         "m": ["Bruno", "Carl", "David", "Emil", "Felix", "Hugo", "Ivan", "Jonas", "Karl", "Leon", "Marco", "Nils",
               "Oscar", "Pavel", "Quinn", "Rafael", "Samuel", "Tomas", "Victor", "Walter", "Xavier", "Yusuf", "Otto", "Lars"]}
LAST = ["Smith", "Novak", "Garcia", "Meyer", "Rossi", "Kowalski", "Dubois", "Jensen", "Silva", "Costa", "Berg",
        "Horvat", "Petrov", "Larsen", "Moreau", "Fischer", "Romano", "Weber", "Nagy", "Bauer", "Vogel", "Santos",
        "Lindqvist", "Okafor", "Tanaka", "Ivanova", "Murphy", "Keller", "Ortiz", "Brandt"]
CITIES = ["Aldmere", "Brackwater", "Corvale", "Dunhollow", "Eastmarch", "Fairhaven", "Glenrock", "Highcliff",
          "Ironbridge", "Juniper Bay", "Kingsford", "Lowvale", "Millbrook", "Northwatch", "Oakridge", "Pinecrest",
          "Queensport", "Redfield", "Stonehaven", "Thornbury", "Umberlee", "Valewood", "Westbrook", "Yarrow"]
COUNTRIES = ["Norland", "Estovia", "Valdoria", "Meridia", "Castelle", "Ostmark"]
COMPANY_A = ["Blue", "Iron", "Silver", "North", "Bright", "Red", "Green", "Golden", "Swift", "Stone", "Clear", "Deep"]
COMPANY_B = ["Works", "Labs", "Foods", "Motors", "Systems", "Textiles", "Shipping", "Energy", "Media", "Tools"]
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
CITY_TEMPLATES = {"country": ["{city} is a city in {country}.", "{city} lies in {country}.",
                              "{city} belongs to {country}.", "The city of {city} is part of {country}."]}

QUESTIONS = {
    "city": "Where does {name} live?", "job": "What is the job of {name}?", "company": "Which company does {name} work for?",
    "pet": "What pet does {name} have?", "color": "What is the favorite color of {name}?", "age": "How old is {name}?",
    "company_city": "Where is {company} based?", "industry": "What industry is {company} in?",
    "year": "When was {company} founded?", "country": "In which country is {city}?",
}


def partition(seed, items, held):
    """The same split of `items` for both splits of a seed: eval gets the second half."""
    shuffled = random.Random(seed).sample(items, len(items))
    return shuffled[len(shuffled) // 2:] if held else shuffled[:len(shuffled) // 2]


def make_world(rng, seed, split, n_people, n_companies):
    held = split == "eval"
    firsts = {g: partition(seed, FIRST[g], held) for g in "fm"}
    company_names = partition(seed, [f"{a} {b}" for a in COMPANY_A for b in COMPANY_B], held)
    names, people = set(), []
    while len(people) < n_people:
        g = rng.choice("fm")
        first = rng.choice(firsts[g])
        name = f"{first} {rng.choice(LAST)}"
        if name not in names:
            names.add(name)
            people.append({"name": name, "gender": g})
    companies = []
    for c in rng.sample(company_names, min(n_companies, len(company_names))):
        companies.append({"name": c, "city": rng.choice(CITIES), "industry": INDUSTRY[c.split()[1]],
                          "year": rng.randint(1890, 2015)})
    cities = {c: rng.choice(COUNTRIES) for c in CITIES}
    for p in people:
        p.update(city=rng.choice(CITIES), job=rng.choice(JOBS), company=rng.choice(companies)["name"],
                 pet=rng.choice(PETS), color=rng.choice(COLORS), age=rng.randint(20, 80))
    return people, companies, cities


def pick_template(rng, templates, held):
    return templates[-1] if held and rng.random() < 0.5 else rng.choice(templates[:-1])


def person_docs(rng, p, held):
    """Two chunks: the second names the person only by pronoun (coreference)."""
    first, second = [], []
    for fact in ["city", "company", "color", "age"]:
        first.append(pick_template(rng, PERSON_TEMPLATES[fact], held).format(**p))
    pron = "she" if p["gender"] == "f" else "he"
    for fact in ["job", "pet"]:
        second.append(pick_template(rng, PRONOUN_TEMPLATES[fact], held).format(pron=pron, Pron=pron.capitalize(), **p))
    rng.shuffle(first)
    first.insert(rng.randint(0, len(first)), rng.choice(FILLER))
    second.append(rng.choice(FILLER))
    rng.shuffle(second)
    return [" ".join(first), " ".join(second)]


def company_doc(rng, c, held):
    s = [pick_template(rng, COMPANY_TEMPLATES[f], held).format(company=c["name"], **c) for f in ["city", "industry", "year"]]
    rng.shuffle(s)
    s.insert(rng.randint(0, len(s)), rng.choice(FILLER))
    return " ".join(s)


def build(seed, split, n_people, n_companies, n_questions):
    rng = random.Random(seed * 1000 + (1 if split == "eval" else 0))
    held = split == "eval"
    people, companies, cities = make_world(rng, seed, split, n_people, n_companies)
    docs = {}
    for i, p in enumerate(people):
        a, b = person_docs(rng, p, held)
        docs[f"p{i}a"], docs[f"p{i}b"] = a, b
    for i, c in enumerate(companies):
        docs[f"c{i}"] = company_doc(rng, c, held)
    by_company = {c["name"]: f"c{i}" for i, c in enumerate(companies)}
    questions = []
    for _ in range(n_questions):
        kind = rng.choice(["single", "single", "multi", "compare", "coref"])
        i = rng.randrange(len(people))
        p = people[i]
        if kind == "single":
            fact = rng.choice(["city", "company", "color", "age"])
            q = {"question": QUESTIONS[fact].format(**p), "answer": str(p[fact]), "docs": [f"p{i}a"]}
        elif kind == "coref":
            fact = rng.choice(["job", "pet"])
            # The two chunks stay adjacent and in order, and no other pronoun-only chunk
            # may be in the prompt (the "she" would be ambiguous).
            q = {"question": QUESTIONS[fact].format(**p), "answer": p[fact], "docs": [f"p{i}a", f"p{i}b"], "adjacent": True}
        elif kind == "multi":
            c = next(c for c in companies if c["name"] == p["company"])
            q = {"question": f"Where is the company that {p['name']} works for based?", "answer": c["city"],
                 "docs": [f"p{i}a", by_company[c["name"]]]}
        else:
            j = rng.randrange(len(people))
            while people[j]["age"] == p["age"]:
                j = rng.randrange(len(people))
            o = people[j]
            q = {"question": f"Who is older, {p['name']} or {o['name']}?",
                 "answer": p["name"] if p["age"] > o["age"] else o["name"], "docs": [f"p{i}a", f"p{j}a"]}
        q["kind"] = kind
        questions.append(q)
    return docs, questions


def write_split(directory, split, docs, questions):
    """<split>-docs.jsonl ({"id", "text"} per line) and <split>-questions.jsonl."""
    directory = pathlib.Path(directory)
    with open(directory / f"{split}-docs.jsonl", "w") as f:
        for k, v in docs.items():
            f.write(json.dumps({"id": k, "text": v}) + "\n")
    with open(directory / f"{split}-questions.jsonl", "w") as f:
        for q in questions:
            f.write(json.dumps(q) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="models/demo-world")
    ap.add_argument("--people", type=int, default=400)
    ap.add_argument("--companies", type=int, default=60)
    ap.add_argument("--questions", type=int, default=2000)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, n_people, n_questions in [("train", args.people, args.questions * 20), ("eval", args.people // 4, args.questions // 4)]:
        docs, questions = build(args.seed, split, n_people, args.companies, n_questions)
        write_split(out, split, docs, questions)


if __name__ == "__main__":
    main()

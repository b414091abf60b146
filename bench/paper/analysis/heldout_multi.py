"""Write `mquake-heldout-multi.json`: MQuAKE-schema cases with three or four chained rewrites, none in the shared data.

Four chains of real relations (MQuAKE's cloze and question templates, prompts/templates/ in the shared data):

- book: author (P50) -> citizenship (P27) -> capital (P36) -> continent (P30)
- employee: employer (P108) -> founder (P112) -> citizenship (P27) -> capital (P36)
- born: birthplace (P19) -> country (P17) -> capital (P36) -> continent (P30)
- product: producer (P176) -> headquarters (P159) -> country (P17) -> official language (P37)

Every hop is rewritten, as in MQuAKE's counterfactual chains: the first hop's subject is a real entity with its real
fact as `target_true`; each later hop's subject is the previous rewrite's new target, and its `target_true` is that
entity's real fact. Three-edit cases stop after the third hop. The draw is seeded; every prompt a case shows the
model (rewrite prompts, their questions, the multi-hop questions, the single-hop questions and clozes) is checked
against every text of the shared data files, and each case's first subject against every subject they name and
every prompt they hold (`--check`, which also runs after writing).

    python -m bench.paper.analysis.heldout_multi [--check]   (data: $BENCH_DATA_DIR, else ../shared/data)
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from bench.data.registry import resolve_data_dir

OUT = Path("results/instructed-heldout/mquake-heldout-multi.json")  # from the checkout, as the other analyses
FIRST_ID = 9101
SEED = 20261206
FOUR_PER_CHAIN, THREE_PER_CHAIN = 9, 3

# country: (capital, continent, official language); languages of countries with several are None
COUNTRIES = {
    "France": ("Paris", "Europe", "French"), "Germany": ("Berlin", "Europe", "German"),
    "Italy": ("Rome", "Europe", "Italian"), "Spain": ("Madrid", "Europe", "Spanish"),
    "Portugal": ("Lisbon", "Europe", "Portuguese"), "Netherlands": ("Amsterdam", "Europe", "Dutch"),
    "Poland": ("Warsaw", "Europe", "Polish"), "Sweden": ("Stockholm", "Europe", "Swedish"),
    "Norway": ("Oslo", "Europe", "Norwegian"), "Finland": ("Helsinki", "Europe", None),
    "Greece": ("Athens", "Europe", "Greek"), "Hungary": ("Budapest", "Europe", "Hungarian"),
    "Denmark": ("Copenhagen", "Europe", "Danish"), "Croatia": ("Zagreb", "Europe", "Croatian"),
    "Serbia": ("Belgrade", "Europe", "Serbian"), "United Kingdom": ("London", "Europe", "English"),
    "Switzerland": ("Bern", "Europe", None), "Belgium": ("Brussels", "Europe", None),
    "Japan": ("Tokyo", "Asia", "Japanese"), "South Korea": ("Seoul", "Asia", "Korean"),
    "Thailand": ("Bangkok", "Asia", "Thai"), "Vietnam": ("Hanoi", "Asia", "Vietnamese"),
    "Indonesia": ("Jakarta", "Asia", "Indonesian"), "Iran": ("Tehran", "Asia", "Persian"),
    "China": ("Beijing", "Asia", "Chinese"), "India": ("New Delhi", "Asia", None),
    "Egypt": ("Cairo", "Africa", "Arabic"), "Kenya": ("Nairobi", "Africa", None),
    "Nigeria": ("Abuja", "Africa", "English"), "Ethiopia": ("Addis Ababa", "Africa", "Amharic"),
    "Brazil": ("Brasília", "South America", "Portuguese"), "Argentina": ("Buenos Aires", "South America", "Spanish"),
    "Chile": ("Santiago", "South America", "Spanish"), "Peru": ("Lima", "South America", None),
    "Colombia": ("Bogotá", "South America", "Spanish"), "Mexico": ("Mexico City", "North America", "Spanish"),
    "Canada": ("Ottawa", "North America", None),
    "United States of America": ("Washington, D.C.", "North America", None),
    "Australia": ("Canberra", "Oceania", "English"), "New Zealand": ("Wellington", "Oceania", None),
    "Turkey": ("Ankara", "Asia", "Turkish"),
}
# city (not a capital): country
CITIES = {
    "Osaka": "Japan", "Yokohama": "Japan", "Lyon": "France", "Marseille": "France", "Munich": "Germany",
    "Hamburg": "Germany", "Milan": "Italy", "Naples": "Italy", "Barcelona": "Spain", "Seville": "Spain",
    "Porto": "Portugal", "Rotterdam": "Netherlands", "Kraków": "Poland", "Gothenburg": "Sweden", "Bergen": "Norway",
    "Thessaloniki": "Greece", "Busan": "South Korea", "Chiang Mai": "Thailand", "Surabaya": "Indonesia",
    "Alexandria": "Egypt", "Mombasa": "Kenya", "Lagos": "Nigeria", "São Paulo": "Brazil",
    "Rio de Janeiro": "Brazil", "Valparaíso": "Chile", "Cusco": "Peru", "Medellín": "Colombia",
    "Guadalajara": "Mexico", "Toronto": "Canada", "Vancouver": "Canada", "Sydney": "Australia",
    "Melbourne": "Australia", "Auckland": "New Zealand", "Chicago": "United States of America",
    "Houston": "United States of America", "Mumbai": "India", "Shanghai": "China", "Manchester": "United Kingdom",
    "Zurich": "Switzerland", "Antwerp": "Belgium", "Aarhus": "Denmark", "Tampere": "Finland", "Debrecen": "Hungary",
}
CONTINENTS = ("Europe", "Asia", "Africa", "North America", "South America", "Oceania", "Antarctica")
LANGUAGES = sorted({lang for _, _, lang in COUNTRIES.values() if lang})
AUTHORS = {  # writer: citizenship
    "Haruki Murakami": "Japan", "Chinua Achebe": "Nigeria", "Gabriel García Márquez": "Colombia",
    "Orhan Pamuk": "Turkey", "Günter Grass": "Germany", "Umberto Eco": "Italy", "José Saramago": "Portugal",
    "Wisława Szymborska": "Poland", "Selma Lagerlöf": "Sweden", "Knut Hamsun": "Norway", "Naguib Mahfouz": "Egypt",
    "Octavio Paz": "Mexico", "Margaret Atwood": "Canada", "Patrick White": "Australia",
    "Jorge Luis Borges": "Argentina",
    "Nikos Kazantzakis": "Greece", "Imre Kertész": "Hungary", "Paulo Coelho": "Brazil", "Pablo Neruda": "Chile",
}
BOOKS = {  # title: author
    "One Hundred Years of Solitude": "Gabriel García Márquez", "Things Fall Apart": "Chinua Achebe",
    "Norwegian Wood": "Haruki Murakami", "The Name of the Rose": "Umberto Eco", "My Name Is Red": "Orhan Pamuk",
    "The Tin Drum": "Günter Grass", "The Alchemist": "Paulo Coelho", "The Handmaid's Tale": "Margaret Atwood",
    "Ficciones": "Jorge Luis Borges", "Palace Walk": "Naguib Mahfouz", "Zorba the Greek": "Nikos Kazantzakis",
    "Growth of the Soil": "Knut Hamsun", "Fatelessness": "Imre Kertész", "The Tree of Man": "Patrick White",
    "The Labyrinth of Solitude": "Octavio Paz", "The Wonderful Adventures of Nils": "Selma Lagerlöf",
    "Kafka on the Shore": "Haruki Murakami", "Baudolino": "Umberto Eco", "The Blind Assassin": "Margaret Atwood",
    "Snow": "Orhan Pamuk",
}
FOUNDERS = {  # founder: citizenship
    "Steve Jobs": "United States of America", "Bill Gates": "United States of America",
    "Jeff Bezos": "United States of America", "Akio Morita": "Japan", "Ingvar Kamprad": "Sweden", "Jack Ma": "China",
    "Enzo Ferrari": "Italy", "Adolf Dassler": "Germany", "Lee Byung-chul": "South Korea",
    "Ole Kirk Christiansen": "Denmark", "Soichiro Honda": "Japan", "Daniel Ek": "Sweden", "Masayoshi Son": "Japan",
    "Amancio Ortega": "Spain", "Aliko Dangote": "Nigeria", "Mike Cannon-Brookes": "Australia",
    "Stewart Butterfield": "Canada", "Carlos Slim": "Mexico", "Niklas Zennström": "Sweden",
    "Tim Sweeney": "United States of America", "Jensen Huang": "United States of America",
    "Kiichiro Toyoda": "Japan", "Fusajiro Yamauchi": "Japan",
}
COMPANIES = {  # company: founder
    "Apple": "Steve Jobs", "Microsoft": "Bill Gates", "Amazon": "Jeff Bezos", "Sony": "Akio Morita",
    "IKEA": "Ingvar Kamprad", "Alibaba": "Jack Ma", "Ferrari": "Enzo Ferrari", "Adidas": "Adolf Dassler",
    "Samsung": "Lee Byung-chul", "Lego": "Ole Kirk Christiansen", "Honda": "Soichiro Honda", "Spotify": "Daniel Ek",
    "SoftBank": "Masayoshi Son", "Zara": "Amancio Ortega", "Dangote Group": "Aliko Dangote",
    "Atlassian": "Mike Cannon-Brookes", "Slack": "Stewart Butterfield", "Grupo Carso": "Carlos Slim",
    "Skype": "Niklas Zennström", "Epic Games": "Tim Sweeney", "Nvidia": "Jensen Huang", "Toyota": "Kiichiro Toyoda",
    "Nintendo": "Fusajiro Yamauchi",
}
EMPLOYEES = {  # person: employer (2026)
    "Tim Cook": "Apple", "Satya Nadella": "Microsoft", "Andy Jassy": "Amazon", "Kenichiro Yoshida": "Sony",
    "Jesper Brodin": "IKEA", "Eddie Wu": "Alibaba", "Benedetto Vigna": "Ferrari", "Bjørn Gulden": "Adidas",
    "Jay Y. Lee": "Samsung", "Niels B. Christiansen": "Lego", "Toshihiro Mibe": "Honda", "Scott Farquhar": "Atlassian",
    "Óscar García Maceiras": "Zara", "Alex Norström": "Spotify", "Tim Sweeney": "Epic Games",
    "Koji Sato": "Toyota", "Shuntaro Furukawa": "Nintendo", "Colette Kress": "Nvidia", "Amy Hood": "Microsoft",
    "Kevan Parekh": "Apple", "Hiroki Totoki": "Sony", "Gustav Söderström": "Spotify", "Joseph Tsai": "Alibaba",
}
ATHLETES = {  # person: country of birth
    "Greta Thunberg": "Sweden", "Luka Modrić": "Croatia", "Mohamed Salah": "Egypt", "Son Heung-min": "South Korea",
    "Robert Lewandowski": "Poland", "Zlatan Ibrahimović": "Sweden", "Lewis Hamilton": "United Kingdom",
    "Max Verstappen": "Belgium", "Eliud Kipchoge": "Kenya", "Virat Kohli": "India", "Shohei Ohtani": "Japan",
    "Erling Haaland": "United Kingdom", "Novak Djokovic": "Serbia", "Kylian Mbappé": "France",
    "Virgil van Dijk": "Netherlands", "Jacinda Ardern": "New Zealand",
}
BIRTH_CITIES = {  # person: city of birth
    "Greta Thunberg": "Stockholm", "Luka Modrić": "Zadar", "Mohamed Salah": "Nagrig", "Son Heung-min": "Chuncheon",
    "Robert Lewandowski": "Warsaw", "Zlatan Ibrahimović": "Malmö", "Lewis Hamilton": "Stevenage",
    "Max Verstappen": "Hasselt", "Eliud Kipchoge": "Kapsisiywa", "Virat Kohli": "Delhi", "Shohei Ohtani": "Ōshū",
    "Erling Haaland": "Leeds", "Novak Djokovic": "Belgrade", "Kylian Mbappé": "Paris", "Virgil van Dijk": "Breda",
    "Jacinda Ardern": "Hamilton",
}
HEADQUARTERS = {  # company: (city, country)
    "Sony": ("Tokyo", "Japan"), "Toyota": ("Toyota City", "Japan"), "Volkswagen": ("Wolfsburg", "Germany"),
    "Nintendo": ("Kyoto", "Japan"), "Apple": ("Cupertino", "United States of America"),
    "Amazon": ("Seattle", "United States of America"), "Microsoft": ("Redmond", "United States of America"),
    "Fiat": ("Turin", "Italy"), "Nokia": ("Espoo", "Finland"), "Volvo Cars": ("Gothenburg", "Sweden"),
    "Nvidia": ("Santa Clara", "United States of America"), "Renault": ("Boulogne-Billancourt", "France"),
    "Hyundai": ("Seoul", "South Korea"), "BMW": ("Munich", "Germany"), "Philips": ("Amsterdam", "Netherlands"),
    "Embraer": ("São José dos Campos", "Brazil"), "Tata Motors": ("Mumbai", "India"),
    "Honda": ("Tokyo", "Japan"), "Kia": ("Seoul", "South Korea"),
}
PRODUCTS = {  # product: producer
    "PlayStation 5": "Sony", "Walkman": "Sony", "Prius": "Toyota", "Land Cruiser": "Toyota",
    "Volkswagen Beetle": "Volkswagen", "Nintendo Switch": "Nintendo", "Game Boy": "Nintendo", "iPhone": "Apple",
    "Kindle": "Amazon", "Xbox": "Microsoft", "Fiat 500": "Fiat", "Nokia 3310": "Nokia", "Volvo XC90": "Volvo Cars",
    "GeForce": "Nvidia", "Renault Clio": "Renault", "Hyundai Tucson": "Hyundai", "BMW i3": "BMW",
    "Nintendo 3DS": "Nintendo", "PlayStation Vita": "Sony", "Honda Super Cub": "Honda", "Hyundai Ioniq 5": "Hyundai",
    "Volkswagen ID.4": "Volkswagen", "GeForce RTX 4090": "Nvidia", "Toyota Mirai": "Toyota", "Renault Zoe": "Renault",
    "Volvo EX30": "Volvo Cars", "Kia EV6": "Kia", "Embraer E195-E2": "Embraer", "Tata Nano": "Tata Motors",
    "Philips Hue": "Philips", "BMW iX": "BMW", "Nokia Lumia 920": "Nokia", "Fiat Panda": "Fiat",
}

# relation: (cloze, question) as in MQuAKE's templates
REL = {
    "P50": ("The author of {} is", "Who is the author of {}?"),
    "P27": ("{} is a citizen of", "What is the country of citizenship of {}?"),
    "P36": ("The capital of {} is", "What is the capital of {}?"),
    "P30": ("{} is located in the continent of", "Which continent is {} located in?"),
    "P108": ("{} is employed by", "Who is the employer of {}?"),
    "P112": ("{} was founded by", "Who founded {}?"),
    "P19": ("{} was born in the city of", "Which city was {} born in?"),
    "P17": ("{} is located in the country of", "Which country is {} located in?"),
    "P176": ("The company that produced {} is", "Which company is {} produced by?"),
    "P159": ("The headquarters of {} is located in the city of", "Which city is the headquarter of {} located in?"),
    "P37": ("The official language of {} is", "What is the official language of {}?"),
}
CHAINS = {  # name: (relations, multi-hop questions by hop count)
    "book": (("P50", "P27", "P36", "P30"), {
        4: ["Which continent is the capital of the country of citizenship of the author of {} located in?",
            "On which continent is the capital city of the country whose citizen wrote {}?",
            "The writer of {} is a citizen of a country; on which continent is the capital of that country?"],
        3: ["What is the capital of the country of citizenship of the author of {}?",
            "Which city is the capital of the country whose citizen wrote {}?"]}),
    "employee": (("P108", "P112", "P27", "P36"), {
        4: ["What is the capital of the country of citizenship of the founder of the employer of {}?",
            "Which city is the capital of the country whose citizen founded the company that employs {}?",
            "The company {} works for was founded by someone; what is the capital of that founder's country?"],
        3: ["What is the country of citizenship of the founder of the company that employs {}?",
            "Of which country is the founder of {}'s employer a citizen?"]}),
    "born": (("P19", "P17", "P36", "P30"), {
        4: ["Which continent is the capital of the country where {}'s birthplace is located in?",
            "On which continent is the capital of the country that contains the city where {} was born?",
            "{} was born in a city; on which continent is the capital of that city's country?"],
        3: ["What is the capital of the country where {} was born?",
            "Which city is the capital of the country that contains {}'s birthplace?"]}),
    "product": (("P176", "P159", "P17", "P37"), {
        4: ["What is the official language of the country where the company that produced {} has its headquarters?",
            "Which language is official in the country of the headquarters city of the maker of {}?",
            "The company that made {} has its headquarters in a city; what is the official language of its country?"],
        3: ["In which country is the headquarters city of the company that produced {}?",
            "Which country is the headquarters of the maker of {} located in?"]}),
}


def fact(rel: str, subject: str) -> str | None:
    """The real object of (subject, relation) in the pools above (None when they do not know it)."""
    if rel == "P50":
        return BOOKS.get(subject)
    if rel == "P27":
        return AUTHORS.get(subject) or FOUNDERS.get(subject)
    if rel == "P36":
        return COUNTRIES[subject][0] if subject in COUNTRIES else None
    if rel == "P30":
        country = CITIES.get(subject)
        return COUNTRIES[country][1] if country else None
    if rel == "P108":
        return EMPLOYEES.get(subject)
    if rel == "P112":
        return COMPANIES.get(subject)
    if rel == "P19":
        return BIRTH_CITIES.get(subject)
    if rel == "P17":
        return CITIES.get(subject)
    if rel == "P176":
        return PRODUCTS.get(subject)
    if rel == "P159":
        return HEADQUARTERS[subject][0] if subject in HEADQUARTERS else None
    if rel == "P37":
        return COUNTRIES[subject][2] if subject in COUNTRIES else None
    raise KeyError(rel)


def candidates(rel: str) -> list[str]:
    """New targets a rewrite of `rel` may draw: entities whose next hop the pools know."""
    return {
        "P50": list(AUTHORS), "P27": list(COUNTRIES), "P36": list(CITIES), "P30": list(CONTINENTS),
        "P108": list(COMPANIES), "P112": list(FOUNDERS), "P19": list(CITIES), "P17": list(COUNTRIES),
        "P176": list(HEADQUARTERS), "P159": list(CITIES), "P37": LANGUAGES,
    }[rel]


def next_known(rel_next: str | None, entity: str) -> bool:
    if rel_next is None:
        return True
    if rel_next == "P37":
        return fact("P37", entity) is not None
    return fact(rel_next, entity) is not None


def true_answer(chain: str, subject: str, hops: int) -> str:
    """The unedited answer of a chain of `hops` hops from `subject` (real facts only; '' when unknown)."""
    if chain == "book":
        country = AUTHORS[BOOKS[subject]]
        return COUNTRIES[country][0] if hops == 3 else COUNTRIES[country][1]
    if chain == "employee":
        country = FOUNDERS[COMPANIES[EMPLOYEES[subject]]]
        return country if hops == 3 else COUNTRIES[country][0]
    if chain == "born":
        country = ATHLETES[subject]
        return COUNTRIES[country][0] if hops == 3 else COUNTRIES[country][1]
    country = HEADQUARTERS[PRODUCTS[subject]][1]
    return country if hops == 3 else COUNTRIES[country][2] or ""


def draw_case(rng: random.Random, chain: str, subject: str, hops: int, world: dict[str, str],
              banned: set[str]) -> dict | None:
    """One case, or None when no draw within 200 tries avoids the banned prompts. A prompt an earlier case
    rewrote keeps that case's new target (`world`), so that the file describes one counterfactual world."""
    relations, questions = CHAINS[chain]
    relations = relations[:hops]
    for _ in range(200):
        rewrites, entity, seen, ok = [], subject, {subject}, True
        for i, rel in enumerate(relations):
            true = fact(rel, entity)
            nxt = relations[i + 1] if i + 1 < len(relations) else None
            options = [c for c in candidates(rel) if c != true and c not in seen and next_known(nxt, c)]
            prompt = norm(REL[rel][0].format(entity))
            if prompt in world:
                options = [world[prompt]] if world[prompt] in options else []
            if not options or true is None or prompt in banned:
                ok = False
                break
            new = rng.choice(options)
            rewrites.append(rewrite(rel, entity, new, true))
            seen.add(new)
            entity = new
        if ok:
            return assemble(chain, subject, hops, rewrites, [q.format(subject) for q in questions[hops]])
    return None


def rewrite(rel: str, subject: str, new: str, true: str) -> dict:
    cloze, question = REL[rel]
    return {"prompt": cloze, "relation_id": rel, "target_new": {"str": new, "id": ""},
            "target_true": {"str": true, "id": ""}, "subject": subject, "question": question.format(subject)}


def assemble(chain: str, subject: str, hops: int, rewrites: list[dict], questions: list[str]) -> dict:
    def hop(rw: dict, answer: str) -> dict:
        s = rw["subject"]
        return {"question": REL[rw["relation_id"]][1].format(s), "cloze": REL[rw["relation_id"]][0].format(s),
                "answer": answer, "answer_alias": []}

    new_hops = [hop(rw, rw["target_new"]["str"]) for rw in rewrites]
    return {"case_id": 0, "requested_rewrite": rewrites, "questions": questions,
            "answer": true_answer(chain, subject, hops), "answer_alias": [],
            "new_answer": rewrites[-1]["target_new"]["str"], "new_answer_alias": [],
            "single_hops": [], "new_single_hops": new_hops,
            "orig": {"triples": [], "edit_triples": [], "chain": chain}}


def case_prompts(case: dict) -> list[str]:
    """Every text an evaluation of `case` shows the model."""
    out = [rw["prompt"].format(rw["subject"]) for rw in case["requested_rewrite"]]
    out += [rw["question"] for rw in case["requested_rewrite"]]
    out += [f"{rw['prompt'].format(rw['subject'])} {rw['target_new']['str']}" for rw in case["requested_rewrite"]]
    out += case["questions"] + [h["question"] for h in case["new_single_hops"]]
    return out + [h["cloze"] for h in case["new_single_hops"]]


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def shared_texts(data_dir: Path) -> tuple[set[str], set[str], str]:
    """(every string of the shared JSON files, with rewrite templates filled; every subject; one blob of the
    MQuAKE and CounterFact prompts for the subject search), all normalised."""
    texts, subjects = set(), set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("subject"), str):
                subjects.add(norm(node["subject"]))
                if isinstance(node.get("prompt"), str) and "{}" in node["prompt"]:
                    texts.add(norm(node["prompt"].format(node["subject"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            texts.add(norm(node))

    for path in sorted(data_dir.rglob("*.json")) + sorted(data_dir.rglob("*.jsonl")):
        raw = path.read_text()
        walk([json.loads(line) for line in raw.splitlines() if line.strip()] if path.suffix == ".jsonl"
             else json.loads(raw))
    return texts, subjects, "\n".join(sorted(texts))


def check(cases: list[dict], data_dir: Path) -> list[str]:
    """Problems: a case text found in the shared data, or a first subject named by it."""
    texts, subjects, blob = shared_texts(data_dir)
    problems = []
    for case in cases:
        for text in case_prompts(case):
            if norm(text) in texts:
                problems.append(f"{case['case_id']}: text in the shared data: {text!r}")
        head = norm(case["requested_rewrite"][0]["subject"])
        if head in subjects or re.search(rf"(?<!\w){re.escape(head)}(?!\w)", blob):
            problems.append(f"{case['case_id']}: first subject in the shared data: {head!r}")
    return problems


def build(data_dir: Path) -> list[dict]:
    texts, subjects, blob = shared_texts(data_dir)
    banned = set(texts)
    heads = {"book": list(BOOKS), "employee": list(EMPLOYEES), "born": list(ATHLETES), "product": list(PRODUCTS)}
    rng, world, cases = random.Random(SEED), {}, []
    for chain, pool in heads.items():
        fresh = [s for s in pool if norm(s) not in subjects
                 and not re.search(rf"(?<!\w){re.escape(norm(s))}(?!\w)", blob)]
        rng.shuffle(fresh)
        wanted = [4] * FOUR_PER_CHAIN + [3] * THREE_PER_CHAIN
        for subject in fresh:
            if not wanted:
                break
            case = draw_case(rng, chain, subject, wanted[0], world, banned)
            if case is None or not case["answer"] or any(norm(t) in banned for t in case_prompts(case)):
                continue
            wanted.pop(0)
            world.update((norm(rw["prompt"].format(rw["subject"])), rw["target_new"]["str"])
                         for rw in case["requested_rewrite"])
            cases.append(case)
        if wanted:
            raise SystemExit(f"chain {chain}: {len(wanted)} cases short; add subjects to its pool")
    for i, case in enumerate(cases):
        case["case_id"] = FIRST_ID + i
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the written file against the shared data")
    args = parser.parse_args()
    data_dir = resolve_data_dir()
    if not args.check:
        OUT.write_text(json.dumps(build(data_dir), indent=1, ensure_ascii=False) + "\n")
    cases = json.loads(OUT.read_text())
    problems = check(cases, data_dir)
    edits = sorted({len(c["requested_rewrite"]) for c in cases})
    print(f"{OUT.name}: {len(cases)} cases (edits per case {edits}); {len(problems)} overlaps with {data_dir}")
    for line in problems:
        print("  " + line)


if __name__ == "__main__":
    main()

"""Generate the bundled demo dataset: short chat dialogues with a one-sentence summary.

Everything here is written for this repository (no third-party corpus is used). Dialogues are built from
templates over ten scenario families with several phrasings each, random names, places, times and objects, plus
small-talk distractor turns, so that a model has to pick out the relevant facts instead of copying the dialogue.
The summary is always derivable from the dialogue. Output is deterministic for a given seed.

    python data/demo/generate_demo_data.py           # (re)write train/validation/test.jsonl next to this file
    python data/demo/generate_demo_data.py --check   # exit 1 if the committed files differ from the generator
"""

import argparse
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = 20240611
SPLIT_SIZES = {"train": 1200, "validation": 100, "test": 100}
MIN_TURNS, MAX_TURNS = 3, 8
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Person:
    name: str
    subj: str  # he / she
    obj: str  # him / her
    poss: str  # his / her


_FEMALE = (
    "Amanda Olivia Mia Sofia Hannah Chloe Priya Aisha Yuki Elena Maria Zoe Laura Nina Fatima Grace Ingrid Lucia "
    "Mei Sara Emma Julia Ada Leila Rosa"
).split()
_MALE = (
    "Tom Jake Liam Noah Omar Ravi Lucas Mateo Ben Daniel Kenji Felix Ahmed Marco Peter Jonas Ethan Diego Hugo Leo "
    "Victor Adam Karim Oscar Pavel"
).split()
PEOPLE = tuple(Person(n, "she", "her", "her") for n in _FEMALE) + tuple(Person(n, "he", "him", "his") for n in _MALE)

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# (form used in summaries, forms people type in the chat)
TIMES = (
    ("10 am", ("10 am", "10am")),
    ("11:30 am", ("11:30 am", "11:30am")),
    ("noon", ("noon", "midday")),
    ("1 pm", ("1 pm", "1pm")),
    ("3 pm", ("3 pm", "3pm")),
    ("4:30 pm", ("4:30 pm", "4:30pm")),
    ("6 pm", ("6 pm", "6pm")),
    ("7 pm", ("7 pm", "7pm")),
    ("7:30 pm", ("7:30 pm", "7:30pm")),
    ("8 pm", ("8 pm", "8pm")),
)
PLACES = (
    "the Blue Door cafe",
    "the library",
    "the park by the river",
    "the station",
    "Rosa's bakery",
    "the gym",
    "the cinema on Main Street",
    "the bowling alley",
    "the farmers' market",
    "the old bookshop",
    "the food court",
    "the climbing hall",
    "the student bar",
    "the art museum",
)
ACTIVITIES = (
    "grab a coffee",
    "study for the exam",
    "go for a run",
    "work on the presentation",
    "watch the match",
    "have lunch",
    "play tennis",
    "go over the budget",
    "practise for the concert",
    "plan the trip",
)
BUSY_EXCUSES = (
    "I have a dentist appointment",
    "I'm working a late shift",
    "my parents are visiting",
    "I have a lecture",
    "I promised to help my sister move",
    "I have choir practice",
)
CITIES = ("Lisbon", "Toronto", "Krakow", "Osaka", "Dublin", "Nairobi", "Melbourne", "Bergen", "Valencia")
MONTHS = ("March", "April", "May", "June", "July", "September", "October", "November")

# (object, why it is needed in the chat, purpose for summaries; {p} = possessive pronoun of the borrower)
BORROW_ITEMS = (
    ("drill", "I want to hang some shelves", "to hang some shelves"),
    ("tent", "we're going camping at the lake", "for a camping trip"),
    ("bike", "mine is being repaired", "while {p} own is being repaired"),
    ("laptop charger", "I left mine at the office", "because {p} own is at the office"),
    ("ladder", "I need to clean the gutters", "to clean the gutters"),
    ("projector", "we're doing a movie night", "for a movie night"),
    ("calculator", "mine died right before the exam", "for the exam"),
    ("big suitcase", "I'm flying to my cousin's wedding", "for a trip to {p} cousin's wedding"),
    ("camera", "I'm taking photos at my friend's party", "to take photos at a party"),
    ("sewing machine", "I have to fix my costume", "to fix {p} costume"),
)
LOSABLE = ("keys", "umbrella", "scarf", "phone charger", "wallet", "sunglasses", "water bottle", "headphones")
EVENTS = ("dinner", "the cinema", "our run", "board game night", "yoga class", "the concert", "drinks", "the pub quiz")
# (first person in the chat, third person for summaries; {s}/{p} = subject/possessive pronoun)
CANCEL_REASONS = (
    ("I've got a fever", "{s} has a fever"),
    ("my boss wants me to stay late", "{s} has to work late"),
    ("my car broke down", "{p} car broke down"),
    ("I have to look after my little brother", "{s} has to look after {p} little brother"),
    ("my flight got delayed", "{p} flight was delayed"),
    ("I have a huge deadline tomorrow", "{s} has a big deadline"),
    ("I sprained my ankle", "{s} sprained {p} ankle"),
)
LATE_REASONS = (
    ("the bus is stuck in traffic", "{p} bus is stuck in traffic"),
    ("my train got cancelled", "{p} train was cancelled"),
    ("I missed the tram", "{s} missed the tram"),
    ("the meeting ran over", "{p} meeting ran over"),
    ("I couldn't find my keys", "{s} couldn't find {p} keys"),
    ("I had to drop my dog at the vet", "{s} had to take {p} dog to the vet"),
)
# (what B says in the chat, what B will do in summaries; {o} = object pronoun of the late person)
WAIT_ACTIONS = (
    ("I'll wait at the entrance", "wait at the entrance"),
    ("I'll get us a table", "get them a table"),
    ("I'll order drinks for us", "order drinks"),
    ("we'll start without you", "start without {o}"),
    ("I'll save you a seat", "save {o} a seat"),
)
TASKS = (
    "the quarterly report",
    "the slide deck for the client meeting",
    "your part of the group project",
    "the signed contract",
    "the expense report",
    "the lab report",
    "the grant application",
    "the newsletter draft",
)
CUISINES = {
    "pizza": (("Luigi's", "Napoli Express"), ("a margherita", "a pepperoni pizza", "a veggie pizza")),
    "Chinese": (("Golden Dragon", "Wok This Way"), ("sweet and sour chicken", "fried rice", "dumplings")),
    "sushi": (("Sakura", "Tokyo Roll"), ("a salmon set", "california rolls", "a veggie maki box")),
    "Indian": (("Curry House", "Spice Garden"), ("chicken tikka", "a vegetable korma", "lamb biryani")),
    "Thai": (("Bangkok Corner", "Lotus Kitchen"), ("pad thai", "green curry", "tom yum soup")),
    "burgers": (("Burger Barn", "Grill Station"), ("a cheeseburger", "a veggie burger", "a chicken burger")),
    "Mexican": (("Taco Loco", "Casa Verde"), ("beef tacos", "a burrito bowl", "nachos")),
}
GROCERIES = (
    "milk",
    "eggs",
    "bread",
    "coffee",
    "bananas",
    "rice",
    "tomatoes",
    "cheese",
    "dish soap",
    "toilet paper",
    "onions",
    "butter",
)
# (gift with article, reason it is a bad idea when mentioned first)
GIFTS = (
    ("a scarf", "{s} got three scarves last year"),
    ("a cookbook", "{s} never cooks"),
    ("concert tickets", "{s} hates crowds"),
    ("a plant", "{p} cat eats every plant"),
    ("a board game", "{s} already has a shelf full of them"),
    ("headphones", "{s} just bought new ones"),
    ("a yoga mat", "{s} already has one"),
    ("a nice pen", "{s} only types these days"),
)
# News: announcement, B's follow-up question, A's answer, summary predicate. Placeholders: {company}, {city},
# {d} (day), {m} (month), {n} (pet name), {p} (possessive pronoun of the teller), {b} (name of the listener).
NEWS = (
    (
        "I got the job at {company}!",
        "Amazing!! When do you start?",
        "On {d}",
        "got a job at {company} and starts on {d}",
    ),
    (
        "I passed my driving test!",
        "Finally!! We have to celebrate",
        "Drinks on {d}?",
        "passed {p} driving test and will celebrate with {b} on {d}",
    ),
    ("We're moving to {city}!", "Wow, when?", "In {m}, if the visa works out", "is moving to {city} in {m}"),
    ("We adopted a puppy!", "Aww, what's its name?", "{n}, he's a little beagle", "adopted a beagle puppy called {n}"),
    ("I got promoted to team lead!", "Congrats!! Since when?", "Since {d}", "was promoted to team lead on {d}"),
    (
        "I finished my thesis!",
        "Congratulations! When's the defence?",
        "In {m}",
        "finished {p} thesis and defends it in {m}",
    ),
)
COMPANIES = ("Northwind", "Bluefin Labs", "the city hospital", "Greenleaf", "the public library", "Atlas Logistics")
PET_NAMES = ("Biscuit", "Pepper", "Mango", "Ziggy", "Noodle", "Olive", "Bruno")

SMALL_TALK = (
    ("How's your week going?", "Busy but ok"),
    ("It's so hot today", "Tell me about it"),
    ("Did you see the match on {other_day}?", "Yes! What an ending"),
    ("{other} says hi btw", "Say hi back :)"),
    ("I was at {other_place} yesterday, it was packed", "It always is"),
    ("How's the new flat?", "Still full of boxes haha"),
    ("Have you finished that series yet?", "Two episodes left, no spoilers!"),
    ("Is it still raining there?", "Non-stop"),
    ("{other} is back from {other_city} by the way", "Oh nice, I'll text {other_obj}"),
)
GREETINGS = (("Hi {b}!", "Hey"), ("Hey, you there?", "Yep"), ("Hello hello", "Hi :)"), ("Morning!", "Morning"))
# Neutral last messages; A closes after B spoke last and vice versa.
CLOSERS_A = ("Thanks!", "See you!", "Ok :)", "Talk later!", "Thanks, bye")
CLOSERS_B = ("See you", "Bye!", "Sounds good", ":)", "Ok")


@dataclass
class Draft:
    turns: list[tuple[int, str]]  # (speaker index, text); speaker 0 starts
    summary: str
    speakers: list[Person]
    used: set[str]  # entity strings the summary relies on; distractors must not reuse them


def _time(rng: random.Random) -> tuple[str, str]:
    canonical, spoken = rng.choice(TIMES)
    return canonical, rng.choice(spoken)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# ----------------------------------------------------------------------------------------------- scenarios


def plan_meeting(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    activity, place = rng.choice(ACTIVITIES), rng.choice(PLACES)
    day1, day2 = rng.sample(DAYS, 2)
    (t1, t1s), (t2, t2s) = rng.sample(TIMES, 2)
    t1s, t2s = rng.choice(t1s), rng.choice(t2s)
    excuse = rng.choice(BUSY_EXCUSES)
    variant = rng.randrange(3)
    if variant == 0:
        turns = [
            (0, f"Are you free on {day1}? Want to {activity}?"),
            (1, "Sure! Where and when?"),
            (0, f"{_cap(place)}, {t1s}?"),
            (1, "Perfect, see you there"),
        ]
        summary = rng.choice(
            (
                f"{a.name} and {b.name} will {activity} at {place} on {day1} at {t1}.",
                f"On {day1} at {t1}, {a.name} and {b.name} are meeting at {place} to {activity}.",
            )
        )
        used = {day1, t1, place}
    elif variant == 1:
        turns = [
            (0, f"Do you want to {activity} on {day1} at {t1s}?"),
            (1, f"I can't at {t1s}, {excuse}. {_cap(t2s)}?"),
            (0, f"{_cap(t2s)} works. {_cap(place)}?"),
            (1, f"Yes, {place} it is"),
        ]
        summary = rng.choice(
            (
                f"{a.name} and {b.name} will {activity} at {place} on {day1} at {t2}.",
                f"{b.name} can't make {t1}, so {b.subj} and {a.name} will meet at {place} on {day1} at {t2} to {activity}.",
            )
        )
        used = {day1, t1, t2, place}
    else:
        turns = [
            (0, f"We still need to {activity}. {day1}?"),
            (1, f"{day1} is bad, {excuse}. What about {day2}?"),
            (0, f"{day2} is fine. {_cap(t1s)} at {place}?"),
            (1, "Deal"),
        ]
        summary = rng.choice(
            (
                f"{b.name} is busy on {day1}, so {a.name} and {b.name} will {activity} at {place} on {day2} at {t1}.",
                f"{a.name} and {b.name} will meet at {place} on {day2} at {t1} to {activity}.",
            )
        )
        used = {day1, day2, t1, place}
    return Draft(turns, summary, [a, b], used)


def borrow_item(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    obj, why, purpose = rng.choice(BORROW_ITEMS)
    purpose = purpose.format(p=a.poss)
    day = rng.choice(DAYS)
    t, ts = _time(rng)
    place = rng.choice(PLACES)
    variant = rng.randrange(3)
    if variant == 0:
        turns = [
            (0, f"Hi {b.name}, could I borrow your {obj}? {_cap(why)}"),
            (1, "Sure, when do you need it?"),
            (0, f"{day} if possible"),
            (1, f"Come by after {ts}, I'll be home"),
            (0, "You're a star, thanks!"),
        ]
        summary = f"{b.name} will lend {a.name} {b.poss} {obj} {purpose}; {a.name} will pick it up on {day} after {t}."
        used = {day, t, obj}
    elif variant == 1:
        turns = [
            (0, f"Do you still have that {obj}? Could I borrow it? {_cap(why)}"),
            (1, f"Sorry, {c.name} borrowed it and still hasn't given it back"),
            (0, f"Oh no. Any idea when {c.subj}'ll return it?"),
            (1, f"{_cap(c.subj)} said by {day}. I'll let you know when I have it"),
        ]
        summary = rng.choice(
            (
                f"{a.name} wants to borrow {b.name}'s {obj}, but {c.name} has it until {day}.",
                f"{b.name} can't lend {a.name} the {obj} yet because {c.name} has it until {day}.",
            )
        )
        used = {day, obj, c.name}
    else:
        turns = [
            (0, f"Can I borrow your {obj} this week? {_cap(why)}"),
            (1, f"No problem, I'll bring it to {place} on {day}"),
            (0, "Thank you so much!"),
        ]
        summary = f"{b.name} will bring {b.poss} {obj} to {place} on {day} so that {a.name} can use it {purpose}."
        used = {day, obj, place}
    return Draft(turns, summary, [a, b], used)


def cancel_plans(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    event = rng.choice(EVENTS)
    day, new_day = rng.sample(DAYS, 2)
    reason1, reason3 = rng.choice(CANCEL_REASONS)
    reason3 = reason3.format(s=a.subj, p=a.poss)
    if rng.random() < 0.5:
        turns = [
            (0, f"{b.name}, I'm so sorry but I can't make it to {event} on {day}"),
            (1, "Oh no, what happened?"),
            (0, f"{_cap(reason1)}"),
            (1, f"Don't worry! {new_day} instead?"),
            (0, f"Yes, {new_day} is good"),
        ]
        summary = rng.choice(
            (
                f"{a.name} can't come to {event} on {day} because {reason3}, so they moved it to {new_day}.",
                f"Because {reason3}, {a.name} cancelled {event} on {day}; {a.name} and {b.name} will go on {new_day}.",
            )
        )
        used = {day, new_day, event}
    else:
        turns = [
            (0, f"Bad news, {reason1}, so I have to skip {event} tonight"),
            (1, "That's a shame. Next time then!"),
        ]
        summary = f"{a.name} will miss {event} tonight because {reason3}."
        used = {event}
    return Draft(turns, summary, [a, b], used)


def deadline_reminder(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    task = rng.choice(TASKS)
    task3 = task.replace("your part", f"{b.poss} part")
    i = rng.randrange(2, len(DAYS))
    deadline, before = DAYS[i], DAYS[rng.randrange(i)]
    t, ts = _time(rng)
    if rng.random() < 0.5:
        turns = [
            (0, f"Just a reminder that {task} is due on {deadline}"),
            (1, "I know, I'm almost done"),
            (0, "Great, send it to me when it's ready"),
            (1, f"Will do, you'll have it on {before}"),
        ]
        summary = rng.choice(
            (
                f"{b.name} has to send {task3} to {a.name} by {deadline} and promises to do it on {before}.",
                f"{task3[:1].upper() + task3[1:]} is due on {deadline}; {b.name} will send it to {a.name} on {before}.",
            )
        )
        used = {deadline, before}
    else:
        turns = [
            (0, f"Did you finish {task}? It was due on {before}"),
            (1, "Oh no, I completely forgot!"),
            (1, f"Can I have until {deadline}?"),
            (0, f"Ok, but not later than {deadline} {ts}"),
            (1, "Promise, thanks"),
        ]
        summary = f"{b.name} forgot about {task3}, so {a.name} gave {b.obj} until {deadline} at {t}."
        used = {deadline, before, t}
    return Draft(turns, summary, [a, b], used)


def share_news(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    announce, question, answer, predicate = rng.choice(NEWS)
    details = {
        "company": rng.choice(COMPANIES),
        "city": rng.choice(CITIES),
        "d": rng.choice(DAYS),
        "m": rng.choice(MONTHS),
        "n": rng.choice(PET_NAMES),
        "p": a.poss,
        "b": b.name,
    }
    announce, answer, predicate = (s.format(**details) for s in (announce, answer, predicate))
    if rng.random() < 0.5:
        turns = [(0, "Guess what!"), (1, "What??"), (0, announce), (1, question), (0, answer)]
    else:
        opener = rng.choice(("Any news?", "How did it go?", "So? Tell me everything"))
        turns = [(1, opener), (0, announce), (1, question), (0, answer)]
    summary = f"{a.name} {predicate}."
    used = {details["company"], details["city"], details["d"], details["m"], details["n"]}
    return Draft(turns, summary, [a, b], used)


def order_food(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    cuisine1, cuisine2 = rng.sample(sorted(CUISINES), 2)
    places, dishes = CUISINES[cuisine2]
    restaurant, dish = rng.choice(places), rng.choice(dishes)
    minutes = rng.choice((20, 30, 40, 45))
    if rng.random() < 0.5:
        turns = [
            (0, "I'm starving. Shall we order something?"),
            (1, f"Yes! {_cap(cuisine1)}?"),
            (0, f"We had {cuisine1} yesterday. {_cap(cuisine2)} from {restaurant}?"),
            (1, f"Fine by me, I'll have {dish}"),
            (0, f"Ordered, it'll be here in {minutes} minutes"),
        ]
        summary = rng.choice(
            (
                f"{a.name} ordered {cuisine2} from {restaurant}, including {dish} for {b.name}.",
                f"{a.name} and {b.name} are getting {cuisine2} from {restaurant}; it arrives in {minutes} minutes.",
            )
        )
    else:
        turns = [
            (0, f"I'm ordering from {restaurant}, want anything?"),
            (1, f"{_cap(dish)} please! I'll pay you back"),
            (0, f"Sure, it'll be here in about {minutes} minutes"),
        ]
        summary = f"{a.name} is ordering {dish} from {restaurant} for {b.name}, who will pay {a.obj} back."
    return Draft(turns, summary, [a, b], {restaurant, dish, cuisine1, cuisine2})


def lost_item(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    obj = rng.choice(LOSABLE)
    plural = obj.endswith("s")
    it, it_was = ("them", "They were") if plural else ("it", "It was")
    place1, place2 = rng.sample(PLACES, 2)
    day = rng.choice(DAYS)
    if rng.random() < 0.5:
        turns = [
            (0, f"Have you seen my {obj}? I can't find {it} anywhere"),
            (1, f"I think you left {it} at {place1}"),
            (0, "Oh thank god"),
            (1, f"I'm going there on {day}, I'll bring {it} to you"),
        ]
        summary = f"{a.name} left {a.poss} {obj} at {place1}; {b.name} will bring {it} to {a.obj} on {day}."
        used = {place1, day, obj}
    else:
        turns = [
            (0, f"I lost my {obj} :("),
            (1, f"Did you check {place1}?"),
            (0, "Yes, not there"),
            (1, f"Maybe {place2}? You were there on {day}"),
            (0, f"Found {it}! {it_was} at {place2}"),
        ]
        summary = f"{a.name} found {a.poss} lost {obj} at {place2} after {b.name} suggested looking there."
        used = {place1, place2, day, obj}
    return Draft(turns, summary, [a, b], used)


def running_late(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    reason1, reason3 = rng.choice(LATE_REASONS)
    reason3 = reason3.format(s=a.subj, p=a.poss)
    wait1, wait3 = rng.choice(WAIT_ACTIONS)
    wait3 = wait3.format(o=a.obj)
    minutes = rng.choice((10, 15, 20, 25, 30, 40))
    place = rng.choice(PLACES)
    if rng.random() < 0.5:
        turns = [
            (0, f"I'm running late, {reason1}"),
            (1, "How late?"),
            (0, f"About {minutes} minutes, sorry!"),
            (1, f"No worries, {wait1}"),
        ]
    else:
        turns = [
            (1, f"Where are you? We said {place}"),
            (0, f"So sorry, {reason1}. I'll be there in {minutes} min"),
            (1, f"Ok, {wait1}"),
        ]
    summary = rng.choice(
        (
            f"{a.name} will be {minutes} minutes late because {reason3}, so {b.name} will {wait3}.",
            f"{a.name} is running {minutes} minutes late as {reason3}; {b.name} will {wait3}.",
        )
    )
    return Draft(turns, summary, [a, b], {place, str(minutes)})


def errand(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    item1, item2, item3 = rng.sample(GROCERIES, 3)
    variant = rng.randrange(3)
    if variant == 0:
        turns = [
            (0, "Are you passing the shop on your way home?"),
            (1, "Yes, need anything?"),
            (0, f"Could you get {item1} and {item2}?"),
            (1, "Sure, anything else?"),
            (0, f"Maybe {item3} if they have it"),
        ]
        summary = f"{b.name} will buy {item1}, {item2} and maybe {item3} for {a.name} on the way home."
    elif variant == 1:
        turns = [
            (0, f"We're out of {item1}"),
            (1, "I'll grab some after work"),
            (0, f"And {item2} please"),
            (1, "Got it"),
        ]
        summary = f"{b.name} will buy {item1} and {item2} after work."
    else:
        turns = [
            (0, f"Can you buy {item1} and {item2} on the way home?"),
            (1, "Ok"),
            (0, f"Actually forget the {item1}, {c.name} already bought some"),
            (1, f"Fine, just {item2} then"),
        ]
        summary = f"{b.name} will only buy {item2}, since {c.name} already bought {item1}."
    return Draft(turns, summary, [a, b], {item1, item2, item3, c.name})


def birthday_gift(rng: random.Random, a: Person, b: Person, c: Person) -> Draft:
    (gift1, why_not), (gift2, _) = rng.sample(GIFTS, 2)
    why_not = why_not.format(s=c.subj, p=c.poss)
    day = rng.choice(DAYS)
    turns = [
        (0, f"{c.name}'s birthday is on {day}. Any gift ideas?"),
        (1, f"{_cap(gift1)}?"),
        (0, f"Nah, {why_not}. Maybe {gift2}?"),
        (1, "Good idea, let's split it"),
        (0, "Ok, I'll order it today"),
    ]
    summary = rng.choice(
        (
            f"{a.name} and {b.name} will give {c.name} {gift2} for {c.poss} birthday on {day} and split the cost.",
            f"For {c.name}'s birthday on {day}, {a.name} will order {gift2} that {a.subj} and {b.name} will split.",
        )
    )
    return Draft(turns, summary, [a, b], {day, gift1, gift2, c.name})


SCENARIOS: dict[str, Callable[[random.Random, Person, Person, Person], Draft]] = {
    "plan_meeting": plan_meeting,
    "borrow_item": borrow_item,
    "cancel_plans": cancel_plans,
    "deadline_reminder": deadline_reminder,
    "share_news": share_news,
    "order_food": order_food,
    "lost_item": lost_item,
    "running_late": running_late,
    "errand": errand,
    "birthday_gift": birthday_gift,
}

# ---------------------------------------------------------------------------------------------- assembly


def _pick_other(rng: random.Random, pool, used: set[str]):
    return rng.choice([x for x in pool if x not in used])


def _small_talk(rng: random.Random, draft: Draft, extra: Person) -> list[tuple[int, str]]:
    first, second = rng.choice(SMALL_TALK)
    values = {
        "other": extra.name,
        "other_obj": extra.obj,
        "other_day": _pick_other(rng, DAYS, draft.used),
        "other_place": _pick_other(rng, PLACES, draft.used),
        "other_city": _pick_other(rng, CITIES, draft.used),
    }
    speaker = rng.randrange(2)
    return [(speaker, first.format(**values)), (1 - speaker, second.format(**values))]


def make_example(rng: random.Random, scenario: str) -> dict:
    """Build one dialogue/summary pair of the given scenario family."""
    a, b, c, extra = rng.sample(PEOPLE, 4)
    draft = SCENARIOS[scenario](rng, a, b, c)
    turns = list(draft.turns)
    budget = MAX_TURNS - len(turns)
    # Distractors: an optional greeting, an optional closer, then optional small talk before or after the topic.
    core_start = 0
    if budget >= 2 and rng.random() < 0.35:
        first, second = rng.choice(GREETINGS)
        turns = [(0, first.format(b=b.name)), (1, second)] + turns
        core_start, budget = 2, budget - 2
    if budget >= 1 and (len(turns) < MIN_TURNS or rng.random() < 0.4):
        last_speaker = turns[-1][0]
        closer = rng.choice(CLOSERS_A if last_speaker == 1 else CLOSERS_B)
        turns.append((1 - last_speaker, closer))
        budget -= 1
    if budget >= 2 and rng.random() < 0.6:
        pos = rng.choice((core_start, len(turns)))
        turns[pos:pos] = _small_talk(rng, draft, extra)
    assert MIN_TURNS <= len(turns) <= MAX_TURNS, (scenario, turns)
    dialogue = "\n".join(f"{draft.speakers[s].name}: {text}" for s, text in turns)
    return {"dialogue": dialogue, "summary": draft.summary, "scenario": scenario}


def build_splits(seed: int = SEED, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """Generate all splits; every dialogue is unique across the whole dataset, so splits share none."""
    sizes = dict(SPLIT_SIZES if sizes is None else sizes)
    rng = random.Random(seed)
    total = sum(sizes.values())
    names = list(SCENARIOS)
    plan = [names[i % len(names)] for i in range(total)]
    rng.shuffle(plan)
    seen: set[str] = set()
    rows = []
    for scenario in plan:
        for _ in range(1000):
            example = make_example(rng, scenario)
            if example["dialogue"] not in seen:
                break
        else:
            raise RuntimeError(f"could not generate a new unique {scenario} dialogue")
        seen.add(example["dialogue"])
        rows.append(example)
    splits, start = {}, 0
    for split, size in sizes.items():
        splits[split] = [{"id": f"demo-{split}-{i:05d}", **row} for i, row in enumerate(rows[start : start + size])]
        start += size
    return splits


def to_jsonl(rows: list[dict]) -> str:
    """Serialise rows exactly as they are stored in the committed files."""
    keys = ("id", "dialogue", "summary", "scenario")
    return "".join(json.dumps({k: row[k] for k in keys}, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where the .jsonl files go (default: here)")
    parser.add_argument("--check", action="store_true", help="verify the files in --out-dir instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for split, rows in build_splits().items():
        path = args.out_dir / f"{split}.jsonl"
        text = to_jsonl(rows)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"wrote {len(rows)} rows to {path}")
    if stale:
        print("out of date (rerun without --check): " + ", ".join(stale), file=sys.stderr)
        return 1
    if args.check:
        print("demo data files match the generator")
    return 0


if __name__ == "__main__":
    sys.exit(main())

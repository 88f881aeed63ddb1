"""What the synthetic speakers say: FSC phrasings and SLURP templates with slot values.

FSC: `fsc_phrasings(action, obj, location)` composes each intent's phrasings from commands
(which also take polite wrappers: "please ...", "could you ...") and plain phrases, in
several word orders; every intent gets 15 or more.
SLURP: `SLURP_TEMPLATES[intent]` holds sentences with `{slot}` fields filled from `SLOTS`.
"""

from __future__ import annotations

# --- FSC --------------------------------------------------------------------------------

WRAPPERS = (
    "{}",
    "please {}",
    "{} please",
    "could you {}",
    "can you {}",
    "could you please {}",
    "would you {}",
    "{} now",
)
WRAPPER_WEIGHTS = (7, 1, 1, 1, 1, 1, 1, 1)  # about half the commands are said bare
PLACES = {"kitchen": ["kitchen"], "bedroom": ["bedroom"], "washroom": ["washroom", "bathroom"]}
THINGS = {
    "shoes": ["my shoes", "the shoes"],
    "socks": ["my socks", "the socks", "a pair of socks"],
    "newspaper": ["the newspaper", "the paper", "today's paper"],
    "juice": ["some juice", "a juice", "a glass of juice"],
}


def _switch(on: bool, obj: str, location: str) -> tuple[list[str], list[str]]:
    """Commands and plain phrases for activate/deactivate of lights, lamp and music."""
    word = "on" if on else "off"
    verbs = ["turn", "switch"]
    if obj == "music":
        if on:
            cmds = ["play the music", "play some music", "start the music", "put some music on"]
            cmds += ["turn on the music", "turn the music on", "resume the music"]
            return cmds, ["music on", "music please", "let's have some music"]
        cmds = ["stop the music", "pause the music", "turn off the music", "turn the music off"]
        cmds += ["switch off the music", "stop playing music"]
        return cmds, ["music off", "no more music", "that's enough music"]
    nouns = ["the lamp"] if obj == "lamp" else ["the lights", "the light"]
    short = "lamp" if obj == "lamp" else "lights"
    if location == "none":
        cmds = [f"{v} {word} {n}" for v in verbs for n in nouns]
        cmds += [f"{v} {n} {word}" for v in verbs for n in nouns]
        plain = [f"{short} {word}"]
        if obj == "lights":
            plain += ["I need some light"] if on else ["kill the lights", "I don't need the lights"]
        return cmds, plain
    cmds, plain = [], []
    for place in PLACES[location]:
        cmds += [f"{v} {word} the lights in the {place}" for v in verbs]
        cmds += [f"{v} {word} the {place} lights" for v in verbs]
        cmds += [f"turn the {place} lights {word}", f"turn the lights {word} in the {place}"]
        plain += [f"{place} lights {word}", f"lights {word} in the {place}"]
        plain += [f"it's too dark in the {place}"] if on else [f"lights out in the {place}"]
    return cmds, plain


def _heat(up: bool, location: str) -> tuple[list[str], list[str]]:
    word, more, verb = ("up", "warmer", "increase") if up else ("down", "cooler", "decrease")
    raise_ = "raise" if up else "lower"
    feel = "too cold" if up else "too hot"
    if location == "none":
        cmds = [f"turn {word} the heat", f"turn the heat {word}", f"{verb} the heating"]
        cmds += [f"{verb} the temperature", f"{raise_} the temperature", f"make it {more}"]
        cmds += [f"turn {word} the heating"]
        return cmds, [f"heat {word}", f"it's {feel}", f"it's {feel} in here", f"{more} please"]
    cmds, plain = [], []
    for place in PLACES[location]:
        cmds += [f"turn {word} the heat in the {place}", f"turn the heat {word} in the {place}"]
        cmds += [f"{verb} the temperature in the {place}", f"make the {place} {more}"]
        cmds += [f"turn {word} the {place} heating", f"{raise_} the {place} temperature"]
        plain += [f"{place} heat {word}", f"it's {feel} in the {place}"]
        plain += [f"the {place} is {feel}", f"heat {word} in the {place}"]
    return cmds, plain


def _volume(up: bool) -> tuple[list[str], list[str]]:
    word, verb, raise_ = ("up", "increase", "raise") if up else ("down", "decrease", "lower")
    more = "louder" if up else "quieter"
    cmds = [f"turn {word} the volume", f"turn the volume {word}", f"{verb} the volume"]
    cmds += [f"{raise_} the volume", f"make it {more}", f"turn it {word}", f"turn the sound {word}"]
    plain = [f"volume {word}", more]
    plain += ["I can't hear that", "it's too quiet"] if up else ["it's too loud", "that's too loud"]
    return cmds, plain


def _bring(obj: str) -> tuple[list[str], list[str]]:
    cmds, plain = [], []
    for thing in THINGS[obj]:
        cmds += [f"bring me {thing}", f"get me {thing}", f"fetch {thing}", f"go get {thing}"]
        plain += [f"I need {thing}", f"I want {thing}"]
    return cmds, plain


def _language(lang: str) -> tuple[list[str], list[str]]:
    if lang == "none":
        cmds = ["change the language", "switch the language", "change language"]
        cmds += ["switch languages", "use a different language", "change the system language"]
        cmds += ["open the language settings"]
        plain = ["language settings", "I want a different language"]
        return cmds, plain + ["I don't understand this language"]
    cmds = [f"change the language to {lang}", f"switch the language to {lang}"]
    cmds += [f"set the language to {lang}", f"switch to {lang}", f"use {lang}"]
    cmds += [f"change language to {lang}", f"speak {lang}"]
    return cmds, [f"{lang} please", f"language {lang}", f"I want to use {lang}"]


def _terse(action: str, obj: str, location: str) -> tuple[list[str], list[str]]:
    """More styles of short imperatives and requests, as people say them to a device:
    other verbs ("put on", "shut off", "bump up", "grab"), no article ("turn on lights"),
    one word ("louder"), indirect wishes ("I'd like some juice")."""
    places = PLACES.get(location, [])
    if action in ("activate", "deactivate"):
        on = action == "activate"
        word = "on" if on else "off"
        if obj == "music":
            if on:
                return ["play music", "put on some music", "start playing music", "play a song"], [
                    "music",
                    "I want to listen to music",
                    "can I have some music",
                ]
            return [
                "stop music",
                "pause music",
                "kill the music",
                "stop playing",
                "stop the song",
            ], [
                "pause",
                "enough music",
                "turn music off",
            ]
        noun = "lamp" if obj == "lamp" else "lights"
        verbs = ["put", "power"] + (["light up"] if on else ["shut", "kill"])
        cmds = []
        if not places:
            cmds += [f"{v} {word} the {noun}" for v in verbs if " " not in v and v != "kill"]
            cmds += [f"turn {word} {noun}", f"switch {noun} {word}", f"turn {word} the {noun} now"]
            plain = [f"{noun} {word} please", f"the {noun} {word}"]
            if obj == "lights":
                plain += ["it's too dark in here"] if on else ["it's too bright in here"]
            return cmds, plain
        plain = []
        for place in places:
            cmds += [f"put the lights {word} in the {place}", f"turn {word} {place} lights"]
            cmds += [f"turn {word} the {place} light", f"switch the {place} light {word}"]
            cmds += [f"shut off the {place} lights"] if not on else [f"light up the {place}"]
            plain += [f"{place} light {word}", f"lights in the {place} {word}", f"{place} {word}"]
        return cmds, plain
    if obj == "heat":
        up = action == "increase"
        word, more = ("up", "warmer") if up else ("down", "cooler")
        cmds = [f"turn heat {word}", f"bump {word} the heat", f"turn the thermostat {word}"]
        cmds += [
            "warm it up" if up else "cool it down",
            f"set the heat {'higher' if up else 'lower'}",
        ]
        plain = [f"{'more' if up else 'less'} heat", f"heating {word}", f"{more} in here"]
        if places:
            cmds = [f"{c} in the {p}" for c in cmds for p in places]
            cmds += [f"{'warm up' if up else 'cool down'} the {p}" for p in places]
            plain = [f"{p} {'warmer' if up else 'cooler'}" for p in places]
            plain += [f"{p} heating {word}" for p in places]
        return cmds, plain
    if obj == "volume":
        up = action == "increase"
        word = "up" if up else "down"
        cmds = [f"bring the volume {word}", f"turn the sound {word} a bit"]
        cmds += ["pump up the volume", "crank it up"] if up else ["lower the sound", "keep it down"]
        plain = [f"volume {word} please", "louder please" if up else "quieter please"]
        plain += ["too quiet", "I can't hear it"] if up else ["too loud", "softer"]
        return cmds, plain
    if action == "bring":
        things = THINGS[obj]
        cmds = [f"{v} {t}" for v in ("grab", "hand me", "pass me") for t in things[:2]]
        cmds += [f"bring {obj}", f"bring my {obj}" if obj in ("shoes", "socks") else f"get {obj}"]
        plain = [f"{obj} please", f"can I have {things[0]}", f"I'd like {things[-1]}"]
        plain += [f"where are my {obj}" if obj in ("shoes", "socks") else f"where is the {obj}"]
        return cmds, plain
    if action == "change language":
        if obj == "none":
            cmds = ["switch language", "change the language settings", "set a new language"]
            return cmds, ["language", "different language please", "another language"]
        cmds = [f"set {obj}", f"change to {obj}", f"switch language to {obj}"]
        return cmds, [obj, f"{obj} language", f"in {obj} please", f"I'd like {obj}"]
    return [], []


def fsc_phrases(action: str, obj: str, location: str) -> tuple[list[str], list[str]]:
    """The commands (which take a `WRAPPERS` form) and plain phrases of one FSC intent."""
    if action == "change language":
        cmds, plain = _language(obj)
    elif action in ("activate", "deactivate"):
        cmds, plain = _switch(action == "activate", obj, location)
    elif obj == "heat":
        cmds, plain = _heat(action == "increase", location)
    elif obj == "volume":
        cmds, plain = _volume(action == "increase")
    elif action == "bring":
        cmds, plain = _bring(obj)
    else:
        raise ValueError(f"no phrasings for FSC intent {action}|{obj}|{location}")
    more_cmds, more_plain = _terse(action, obj, location)
    return cmds + more_cmds, plain + more_plain


def fsc_phrasings(action: str, obj: str, location: str) -> list[str]:
    """All phrasings of one FSC intent, sorted, without duplicates."""
    cmds, plain = fsc_phrases(action, obj, location)
    return sorted({w.format(c) for c in cmds for w in WRAPPERS} | set(plain))


# --- SLURP ------------------------------------------------------------------------------

SLOTS: dict[str, list[str]] = {
    "date": ["today", "tomorrow", "on monday", "this weekend", "next friday", "tonight",
             "on the twenty first of march", "next week", "on sunday morning"],
    "time": ["seven am", "half past six", "noon", "eight thirty in the evening",
             "quarter to nine", "ten pm", "five o'clock", "six fifteen"],
    "person": ["john", "sarah", "my mum", "alex", "doctor smith", "emma", "david", "my boss",
               "maria", "tom"],
    "event": ["dentist appointment", "team meeting", "birthday party", "yoga class",
              "parent evening", "lunch with the team"],
    "city": ["london", "paris", "new york", "tokyo", "berlin", "sydney", "edinburgh",
             "chicago", "madrid", "toronto"],
    "place": ["the airport", "the train station", "the office", "home", "the city centre",
              "the hospital", "the cinema"],
    "room": ["kitchen", "bedroom", "living room", "hallway", "bathroom", "office"],
    "color": ["red", "blue", "green", "warm white", "purple", "orange", "pink"],
    "plug": ["fan", "heater", "kettle", "television", "socket", "coffee maker"],
    "coffee": ["cappuccino", "latte", "espresso", "black coffee", "flat white"],
    "food": ["lasagne", "a pizza", "pancakes", "chicken curry", "risotto", "sushi",
             "a burger", "fish and chips"],
    "ingredient": ["chicken", "potatoes", "mushrooms", "eggs", "rice", "spinach"],
    "cuisine": ["italian", "chinese", "indian", "thai", "mexican", "japanese"],
    "restaurant": ["pizza hut", "dominos", "the golden dragon", "nando's", "wagamama"],
    "shop": ["pharmacy", "supermarket", "coffee shop", "petrol station", "bakery"],
    "item": ["milk", "eggs", "bread", "bananas", "toilet paper", "coffee beans", "butter"],
    "listname": ["shopping", "to do", "groceries", "christmas", "holiday packing"],
    "song": ["yesterday", "bohemian rhapsody", "shape of you", "hello", "wonderwall",
             "let it be"],
    "artist": ["the beatles", "adele", "queen", "ed sheeran", "taylor swift", "coldplay",
               "oasis"],
    "genre": ["jazz", "rock", "classical", "pop", "hip hop", "country"],
    "playlist": ["workout", "chill", "party", "morning", "road trip"],
    "radio": ["bbc radio one", "radio two", "jazz fm", "classic fm", "capital radio"],
    "podcast": ["the daily", "serial", "this american life", "freakonomics", "radiolab"],
    "audiobook": ["harry potter", "the hobbit", "pride and prejudice", "dune",
                  "the da vinci code"],
    "game": ["trivia", "twenty questions", "chess", "hangman", "a word game"],
    "topic": ["football", "the election", "science", "the economy", "animals", "technology"],
    "newssource": ["bbc", "guardian", "cnn", "local"],
    "number": ["two", "five", "ten", "twelve", "twenty", "fifty", "a hundred"],
    "number2": ["three", "four", "seven", "eight", "fifteen", "thirty"],
    "currency": ["dollars", "euros", "pounds", "yen", "rupees"],
    "currency2": ["pounds", "dollars", "euros", "swiss francs", "australian dollars"],
    "word": ["serendipity", "ephemeral", "ubiquitous", "gregarious", "ambiguous", "nostalgia"],
    "country": ["france", "japan", "brazil", "canada", "egypt", "india"],
    "landmark": ["the eiffel tower", "mount everest", "big ben", "the empire state building"],
    "famous": ["albert einstein", "shakespeare", "marie curie", "mozart", "nelson mandela"],
    "company": ["apple", "google", "amazon", "tesla", "microsoft", "netflix"],
    "moviegenre": ["comedy", "horror", "action", "romantic", "science fiction", "animated"],
    "movie": ["the matrix", "toy story", "titanic", "inception", "jurassic park"],
    "status": ["i am on holiday", "i love mondays", "the weather is lovely",
               "i just finished a marathon"],
    "road": ["m twenty five", "ring road", "high street", "motorway", "bridge"],
    "duration": ["ten minutes", "an hour", "half an hour", "five minutes"],
    "email": ["john at gmail dot com", "sarah at work dot com", "info at example dot org"],
}  # fmt: skip

SLURP_TEMPLATES: dict[str, list[str]] = {
    "alarm_query": ["what alarms do i have {date}", "is my alarm set for {time}",
                    "show me my alarms", "when is my next alarm",
                    "do i have an alarm set for {date}"],
    "alarm_remove": ["remove the alarm for {time}", "delete my {time} alarm",
                     "cancel the alarm {date}", "turn off all my alarms",
                     "remove my alarm for {date}"],
    "alarm_set": ["set an alarm for {time}", "wake me up at {time} {date}",
                  "set an alarm for {time} {date}", "create an alarm at {time}",
                  "alarm at {time} please"],
    "audio_volume_down": ["turn the volume down", "lower the volume",
                          "make it a bit quieter", "reduce the volume to {number}",
                          "decrease the sound please"],
    "audio_volume_mute": ["mute the speaker", "be quiet", "mute for {duration}",
                          "silence please", "turn off the sound"],
    "audio_volume_other": ["set the volume to {number}", "change the volume",
                           "what is the volume level", "reset the volume",
                           "put the volume at {number} percent"],
    "audio_volume_up": ["turn the volume up", "increase the volume", "louder please",
                        "raise the volume to {number}", "make it louder"],
    "calendar_query": ["what is on my calendar {date}", "do i have any meetings {date}",
                       "when is my meeting with {person}", "what's my schedule for {date}",
                       "am i free {date} at {time}"],
    "calendar_remove": ["cancel my meeting with {person}",
                        "delete the {event} from my calendar", "remove all events {date}",
                        "clear my calendar for {date}", "cancel the {event} {date}"],
    "calendar_set": ["remind me to call {person} {date}",
                     "schedule a meeting with {person} at {time}",
                     "add the {event} to my calendar {date}",
                     "set a reminder for the {event} at {time}",
                     "book a meeting {date} at {time}"],
    "cooking_query": ["how long should i cook {food} for",
                      "what temperature do i cook {ingredient} at",
                      "how do i know when {food} is done",
                      "how many calories are in {food}", "how long do i boil eggs"],
    "cooking_recipe": ["give me a recipe for {food}", "how do i make {food}",
                       "find me a recipe with {ingredient}",
                       "what can i cook with {ingredient}", "tell me how to cook {food}"],
    "datetime_convert": ["convert {time} london time to new york time",
                         "what time is {time} here in {city}",
                         "how many hours ahead is {city}",
                         "what is {time} in {city} time"],
    "datetime_query": ["what time is it", "what is the date {date}", "what day is it {date}",
                       "what's the time in {city}", "what is today's date"],
    "email_addcontact": ["add {email} to my contacts",
                         "save this email address for {person}",
                         "create a new contact for {person}",
                         "add {person}'s email to my contacts"],
    "email_query": ["do i have any new emails", "check my inbox", "did {person} email me",
                    "read my emails from {person}", "any new emails {date}"],
    "email_querycontact": ["what is {person}'s email address",
                           "show me {person}'s contact details",
                           "what's the phone number of {person}",
                           "when is {person}'s birthday"],
    "email_sendemail": ["send an email to {person}", "email {person} about the {event}",
                        "reply to {person}'s email",
                        "write an email to {person} saying i will be late",
                        "send {person} a message about the {event}"],
    "general_greet": ["hello", "good morning", "hi there how are you", "good evening",
                      "hey nice to meet you"],
    "general_joke": ["tell me a joke", "make me laugh", "do you know any good jokes",
                     "tell me something funny", "tell me a joke about {topic}"],
    "general_quirky": ["what is the meaning of life", "do you dream", "are you a robot",
                       "sing me a song", "what's your favourite colour"],
    "iot_cleaning": ["start the vacuum cleaner", "clean the {room}",
                     "turn on the robot vacuum", "vacuum the {room}",
                     "start cleaning the house"],
    "iot_coffee": ["make me a coffee", "i need a {coffee}", "start the coffee machine",
                   "brew some coffee", "make me a {coffee} please"],
    "iot_hue_lightchange": ["change the lights to {color}", "make the lights {color}",
                            "set the {room} lights to {color}", "turn the lights {color}",
                            "i want {color} lights"],
    "iot_hue_lightdim": ["dim the lights", "dim the {room} lights",
                         "make the lights darker", "lower the lights in the {room}",
                         "turn the brightness down"],
    "iot_hue_lightoff": ["turn off the lights", "switch off the {room} lights",
                         "lights off in the {room}", "turn the lights off",
                         "kill the lights"],
    "iot_hue_lighton": ["turn on the lights", "switch on the {room} lights",
                        "lights on in the {room}", "turn the lights on please",
                        "i need some light in the {room}"],
    "iot_hue_lightup": ["brighten the lights", "make the lights brighter",
                        "increase the brightness in the {room}", "turn up the lights",
                        "brighter lights in the {room}"],
    "iot_wemo_off": ["turn off the {plug}", "switch off the {plug}", "unplug the {plug}",
                     "power off the {plug}"],
    "iot_wemo_on": ["turn on the {plug}", "switch on the {plug}", "power on the {plug}",
                    "start the {plug}"],
    "lists_createoradd": ["add {item} to my shopping list",
                          "create a new list called {listname}",
                          "put {item} on the {listname} list", "make a {listname} list",
                          "add {item} to the {listname} list"],
    "lists_query": ["what's on my shopping list", "read my {listname} list",
                    "what lists do i have", "is {item} on my shopping list",
                    "show me the {listname} list"],
    "lists_remove": ["remove {item} from my shopping list", "delete my {listname} list",
                     "take {item} off the {listname} list", "clear the {listname} list"],
    "music_dislikeness": ["i don't like this song", "i hate {artist}",
                          "this song is terrible", "never play {song} again",
                          "i don't like {genre} music"],
    "music_likeness": ["i love this song", "i like {artist}",
                       "remember that i like {genre}", "this is my favourite song",
                       "i really enjoy {song}"],
    "music_query": ["what song is this", "who sings this song",
                    "what is the name of this track", "who is the artist",
                    "what album is this song from"],
    "music_settings": ["shuffle my playlist", "put this song on repeat", "turn on shuffle",
                       "repeat this track", "turn off repeat"],
    "news_query": ["what's the latest news", "tell me the news about {topic}",
                   "any news from {city}", "what are today's headlines",
                   "read me the {newssource} headlines"],
    "play_audiobook": ["play {audiobook}", "resume my audiobook",
                       "continue reading {audiobook}", "start the audiobook {audiobook}",
                       "play the next chapter of my book"],
    "play_game": ["let's play a game", "play {game} with me", "start a game of {game}",
                  "i want to play {game}", "can we play a quiz"],
    "play_music": ["play {song} by {artist}", "play some {genre}", "play music by {artist}",
                   "put on {song}", "play my {playlist} playlist"],
    "play_podcasts": ["play the {podcast} podcast", "play the latest episode of {podcast}",
                      "resume my podcast", "play the next episode",
                      "play a podcast about {topic}"],
    "play_radio": ["play {radio}", "turn on the radio", "tune in to {radio}",
                   "play {genre} radio", "put the radio on"],
    "qa_currency": ["what is the exchange rate from {currency} to {currency2}",
                    "how much is {number} {currency} in {currency2}",
                    "convert {number} {currency} to {currency2}",
                    "what are {currency} worth today"],
    "qa_definition": ["what does {word} mean", "define {word}",
                      "what is the definition of {word}", "what is the meaning of {word}",
                      "look up {word} in the dictionary"],
    "qa_factoid": ["how tall is {landmark}", "who is the president of {country}",
                   "what is the capital of {country}", "how far away is the moon",
                   "when was {famous} born"],
    "qa_maths": ["what is {number} plus {number2}", "what's {number} times {number2}",
                 "what is the square root of {number}", "divide {number} by {number2}",
                 "what is {number} minus {number2}"],
    "qa_stock": ["how are {company} shares doing", "what's the stock price of {company}",
                 "how is the stock market today", "is {company} stock up",
                 "tell me the price of {company} shares"],
    "recommendation_events": ["what's happening in {city} this weekend",
                              "are there any concerts {date}",
                              "recommend some events near me", "what events are on {date}",
                              "anything fun to do {date}"],
    "recommendation_locations": ["recommend a good {cuisine} restaurant",
                                 "where is the nearest {shop}", "find a good {shop} near me",
                                 "what's a good place to eat in {city}",
                                 "suggest a {cuisine} place nearby"],
    "recommendation_movies": ["recommend a good {moviegenre} movie",
                              "what movies should i watch tonight",
                              "suggest a film like {movie}", "what's a good {moviegenre} film",
                              "any good movies out {date}"],
    "social_post": ["post on facebook that {status}", "tweet that {status}",
                    "complain to {company} on twitter", "update my status to {status}",
                    "share this on facebook"],
    "social_query": ["what's new on facebook", "any updates from {person}",
                     "check my twitter notifications", "did anyone comment on my post",
                     "what is {person} up to on facebook"],
    "takeaway_order": ["order {food} from {restaurant}", "i want to order a takeaway",
                       "get me {food} delivered", "order {food} for dinner",
                       "can you order {cuisine} food"],
    "takeaway_query": ["is my order from {restaurant} on its way",
                       "does {restaurant} deliver", "how long until my food arrives",
                       "what's the status of my takeaway", "is {restaurant} open now"],
    "transport_query": ["when is the next train to {city}", "how do i get to {city}",
                        "what time does the bus leave", "is the train to {city} on time",
                        "how long is the drive to {city}"],
    "transport_taxi": ["book a taxi to {place}", "call me an uber",
                       "get me a cab to {place} at {time}", "i need a taxi {date}",
                       "order a taxi to {place}"],
    "transport_ticket": ["book a train ticket to {city}", "buy a ticket to {city} {date}",
                         "i need a plane ticket to {city}", "get me two tickets to {city}",
                         "reserve a seat on the train to {city}"],
    "transport_traffic": ["how's the traffic on the way to {place}",
                          "is there traffic on the {road}", "are the roads busy",
                          "what's the traffic like in {city}", "any delays on the {road}"],
    "weather_query": ["what's the weather like {date}", "will it rain {date}",
                      "how hot will it be in {city} {date}", "do i need an umbrella {date}",
                      "what's the temperature in {city}"],
}  # fmt: skip

"""The bundled WebShop catalog: a seeded generator of products and shopping instructions.

It writes the three upstream files (see :mod:`envs.webshop.data` for the formats), so the bundled
data and a researcher's real WebShop download go through the same loader. Five top-level categories
like upstream's (beauty, electronics, fashion, food, furniture), six families each and 160+ product
types in all (:data:`TYPES`). The catalog is built to be hard in the ways the real one is:

- titles, bullet points, descriptions and reviews come in many styles; a description names only some
  of the product's attributes, and an attribute is sometimes written only as a paraphrase ("made
  without sulfates" for *sulfate free*);
- look-alike products: one type shares its attribute pool, options and a wide price band (budget and
  premium lines) across twelve products, and half of them are also listed by a second seller (same
  text, dearer, sometimes fewer option values), so the instruction's attributes, options and price cap
  pick out few;
- option values with near misses ("pack of 1" / "pack of 12", "x-large" / "xx-large", "6 ft" / "6.6 ft");
- instructions in varied natural phrasings: synonyms for the product noun ("hair wash"), attributes
  sometimes paraphrased, options spoken the way people write them ("xl", "a 12-pack", "16 ounces")
  while the goal keeps the option's label, as upstream's human instructions do.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

SIBLING_SHARE = 0.5  # products that another seller also lists (dearer, sometimes with fewer options)


@dataclass(frozen=True)
class ProductType:
    """One kind of product: what shoppers search, its title nouns, where it lives and what varies."""

    category: str  # top-level category, upstream's `category` field
    query: str  # upstream's `query` field: the search that found the product
    nouns: tuple[str, ...]  # title nouns; the first is the usual one, the rest synonyms shoppers also use
    path: tuple[str, ...]  # upstream's `product_category`, joined with " › "
    attributes: tuple[str, ...]  # attribute pool (upstream's items_ins_v2 `attributes`)
    options: dict[str, tuple[str, ...]]  # option group -> values (in the order a product page lists them)
    price: tuple[float, float]  # price band in dollars


@dataclass(frozen=True)
class _Family:
    category: str
    path: tuple[str, ...]
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: tuple[float, float]
    #: (query, nouns "a|b|c", path leaf, extra attributes, option overrides or None, price band or None)
    types: tuple[
        tuple[str, str, str, tuple[str, ...], dict[str, tuple[str, ...]] | None, tuple[float, float] | None],
        ...,
    ]


_COLORS = (
    "black",
    "white",
    "navy blue",
    "light blue",
    "royal blue",
    "heather grey",
    "charcoal",
    "red",
    "burgundy",
    "green",
    "olive",
    "pink",
    "beige",
    "brown",
    "purple",
    "khaki",
    "teal",
    "ivory",
)
_WOOD = ("walnut", "oak", "espresso", "white", "black", "rustic brown", "grey", "natural")
_APPAREL = ("x-small", "small", "medium", "large", "x-large", "xx-large", "3x-large")
_SHOES = ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12", "13")
_PACKS = ("pack of 1", "pack of 2", "pack of 3", "pack of 4", "pack of 6", "pack of 12", "pack of 24")
_BED = ("twin", "twin xl", "full", "queen", "king", "california king")
_FLOZ = (
    "1 fl oz",
    "1.7 fl oz",
    "2 fl oz",
    "3.4 fl oz",
    "8 fl oz",
    "8.5 fl oz",
    "12 fl oz",
    "16 fl oz",
    "16.9 fl oz",
    "33.8 fl oz",
)
_PHONES = ("iphone 13", "iphone 14", "iphone 15", "iphone 15 pro", "galaxy s23", "galaxy s24", "pixel 8")


def _t(
    query: str,
    nouns: str,
    leaf: str,
    extra: tuple[str, ...] = (),
    options: dict[str, tuple[str, ...]] | None = None,
    price: tuple[float, float] | None = None,
):
    return (query, nouns, leaf, extra, options, price)


_FAMILIES: tuple[_Family, ...] = (
    # --- beauty -------------------------------------------------------------------------------------
    _Family(
        "beauty",
        ("Beauty & Personal Care", "Hair Care"),
        (
            "sulfate free",
            "paraben free",
            "argan oil",
            "tea tree",
            "dry hair",
            "color treated hair",
            "natural ingredients",
            "cruelty free",
            "curly hair",
            "damaged hair",
        ),
        {
            "size": _FLOZ[4:],
            "scent": ("coconut", "lavender", "mint", "unscented", "citrus", "rose", "vanilla"),
        },
        (7, 48),
        (
            _t("shampoo", "shampoo|hair wash", "Shampoos", ("volumizing",)),
            _t("conditioner", "conditioner|hair conditioner", "Conditioners", ("detangling",)),
            _t("hair mask", "hair mask|deep conditioning mask", "Hair Masks", ("deep conditioning",)),
            _t("hair oil", "hair oil|hair serum oil", "Hair Oils", ("frizz control",)),
            _t("dry shampoo", "dry shampoo|dry shampoo spray", "Dry Shampoos", ("oil absorbing",)),
            _t(
                "leave in conditioner",
                "leave-in conditioner|leave in spray",
                "Leave-In Conditioners",
                ("heat protection",),
            ),
        ),
    ),
    _Family(
        "beauty",
        ("Beauty & Personal Care", "Skin Care", "Face"),
        (
            "hyaluronic acid",
            "fragrance free",
            "sensitive skin",
            "anti aging",
            "oil free",
            "vitamin c",
            "non comedogenic",
            "dermatologist tested",
            "dry skin",
            "retinol",
        ),
        {"size": _FLOZ[:6]},
        (8, 68),
        (
            _t("face moisturizer", "face moisturizer|face cream|facial lotion", "Creams & Moisturizers"),
            _t("night cream", "night cream|overnight cream", "Night Creams"),
            _t("eye cream", "eye cream|under eye cream", "Eye Creams", ("dark circles",)),
            _t("face serum", "face serum|facial serum", "Serums"),
            _t("face wash", "face wash|facial cleanser", "Cleansers", ("gentle cleansing",)),
            _t("sunscreen", "sunscreen|sun lotion|sunblock", "Sunscreens", ("spf 50", "water resistant")),
        ),
    ),
    _Family(
        "beauty",
        ("Beauty & Personal Care", "Makeup"),
        (
            "long lasting",
            "cruelty free",
            "vegan",
            "highly pigmented",
            "waterproof",
            "smudge proof",
            "lightweight formula",
            "matte finish",
            "paraben free",
        ),
        {
            "color": (
                "nude",
                "red",
                "berry",
                "coral",
                "mauve",
                "plum",
                "pink",
                "brown",
                "black",
                "dark brown",
            ),
            "size": ("pack of 1", "pack of 2", "pack of 3"),
        },
        (5, 39),
        (
            _t("lipstick", "lipstick|lip color", "Lipstick"),
            _t("lip gloss", "lip gloss|lip shine", "Lip Glosses", ("moisturizing",)),
            _t("mascara", "mascara|lash mascara", "Mascara", ("volumizing",)),
            _t("eyeliner", "eyeliner|eye liner pencil", "Eyeliner"),
            _t("liquid foundation", "liquid foundation|foundation", "Foundation", ("full coverage",)),
            _t("eyeshadow palette", "eyeshadow palette|eye shadow palette", "Eyeshadow", ("shimmer",)),
        ),
    ),
    _Family(
        "beauty",
        ("Beauty & Personal Care", "Hair Care", "Styling Tools & Appliances"),
        (
            "fast drying",
            "ionic technology",
            "ceramic",
            "travel size",
            "dual voltage",
            "heat resistant",
            "auto shut off",
            "lightweight",
            "easy to use",
        ),
        {"color": ("black", "white", "pink", "rose gold", "purple", "teal")},
        (15, 129),
        (
            _t("hair dryer", "hair dryer|blow dryer", "Hair Dryers"),
            _t("flat iron", "flat iron|hair straightener", "Flat Irons"),
            _t("curling iron", "curling iron|curling wand", "Curling Irons"),
            _t("hot air brush", "hot air brush|blowout brush", "Hot-Air Brushes"),
            _t("hair clipper", "hair clippers|hair trimmer", "Hair Clippers", ("cordless",)),
            _t(
                "hair extensions",
                "clip in hair extensions|hair extensions",
                "Hair Extensions",
                ("natural looking", "human hair"),
                {
                    "color": ("black", "dark brown", "light brown", "blonde", "ash blonde", "auburn"),
                    "size": ("14 inch", "16 inch", "18 inch", "20 inch", "22 inch", "24 inch"),
                },
                (19, 99),
            ),
        ),
    ),
    _Family(
        "beauty",
        ("Beauty & Personal Care", "Foot, Hand & Nail Care"),
        (
            "quick dry",
            "non toxic",
            "long lasting",
            "high gloss",
            "chip resistant",
            "vegan",
            "stainless steel",
            "travel size",
        ),
        {
            "color": ("red", "nude", "black", "white", "pink", "lilac", "teal", "gold glitter"),
            "size": _PACKS[:5],
        },
        (5, 35),
        (
            _t("nail polish", "nail polish|nail lacquer", "Nail Polish"),
            _t("gel nail polish", "gel nail polish|gel polish", "Gel Polish", ("uv led cure",)),
            _t("nail clippers", "nail clippers|nail cutter set", "Nail Clippers"),
            _t("hand cream", "hand cream|hand lotion", "Hand Creams", ("shea butter", "non greasy")),
            _t("foot cream", "foot cream|foot balm", "Foot Creams", ("cracked heels",)),
            _t("nail art kit", "nail art kit|nail stickers", "Nail Art", ("easy to apply",)),
        ),
    ),
    _Family(
        "beauty",
        ("Beauty & Personal Care", "Personal Care"),
        (
            "natural ingredients",
            "sensitive skin",
            "paraben free",
            "moisturizing",
            "shea butter",
            "dermatologist tested",
            "travel size",
            "gift set",
        ),
        {
            "scent": ("eucalyptus", "vanilla", "oatmeal", "cucumber", "sandalwood", "unscented"),
            "size": ("pack of 1", "pack of 2", "pack of 3", "pack of 4"),
        },
        (6, 45),
        (
            _t("body wash", "body wash|shower gel", "Body Washes"),
            _t("deodorant", "deodorant|deodorant stick", "Deodorants", ("aluminum free",)),
            _t("body lotion", "body lotion|body moisturizer", "Body Lotions"),
            _t("bath bombs", "bath bombs|bath fizzies", "Bath Bombs", ("essential oils",)),
            _t(
                "electric toothbrush",
                "electric toothbrush|sonic toothbrush",
                "Power Toothbrushes",
                ("two minute timer", "travel case", "rechargeable", "long battery life"),
                {
                    "color": ("white", "black", "pink", "blue", "mint"),
                    "style": ("1 handle", "2 handles", "with 4 brush heads", "with 8 brush heads"),
                },
                (19, 99),
            ),
            _t(
                "electric razor",
                "electric razor|electric shaver",
                "Electric Shavers",
                ("wet and dry", "rechargeable", "long battery life"),
                {"color": ("black", "silver", "blue", "grey")},
                (25, 120),
            ),
        ),
    ),
    # --- electronics --------------------------------------------------------------------------------
    _Family(
        "electronics",
        ("Electronics", "Headphones, Earbuds & Accessories"),
        (
            "noise cancelling",
            "wireless bluetooth",
            "long battery life",
            "built in microphone",
            "deep bass",
            "waterproof",
            "foldable design",
            "fast charging",
            "hands free",
            "stereo sound",
        ),
        {"color": ("black", "white", "navy blue", "grey", "rose gold", "green", "red", "purple")},
        (15, 180),
        (
            _t(
                "bluetooth headphones",
                "wireless headphones|over ear headphones|bluetooth headphones",
                "Over-Ear Headphones",
            ),
            _t("wireless earbuds", "wireless earbuds|earphones|in ear headphones", "Earbud Headphones"),
            _t("portable speaker", "portable bluetooth speaker|wireless speaker", "Portable Speakers"),
            _t("gaming headset", "gaming headset|gaming headphones", "Gaming Headsets", ("rgb lighting",)),
            _t("soundbar", "soundbar|tv sound bar", "Sound Bars", ("wall mountable",)),
            _t(
                "kids headphones",
                "kids headphones|children's headphones",
                "Kids Headphones",
                ("volume limited",),
            ),
        ),
    ),
    _Family(
        "electronics",
        ("Electronics", "Computers & Accessories", "Cables & Chargers"),
        (
            "fast charging",
            "gold plated",
            "braided cord",
            "compact design",
            "overheat protection",
            "high speed",
            "dual port",
            "foldable plug",
            "durable",
        ),
        {
            "color": ("black", "white", "grey", "blue"),
            "size": ("3 ft", "6 ft", "6.6 ft", "10 ft", "15 ft"),
            "style": ("1 pack", "2 pack", "3 pack", "5 pack"),
        },
        (6, 55),
        (
            _t("usb c cable", "usb c cable|type c charging cable", "USB Cables"),
            _t("hdmi cable", "hdmi cable|hdmi cord", "HDMI Cables", ("4k", "ethernet")),
            _t("lightning cable", "lightning cable|iphone charger cable", "Lightning Cables"),
            _t(
                "usb c charger",
                "usb c wall charger|usb c charger|charging block",
                "Wall Chargers",
                ("gan technology",),
                {"color": ("black", "white"), "style": ("20w", "30w", "45w", "65w", "100w")},
                (9, 59),
            ),
            _t(
                "power bank",
                "power bank|portable charger|battery pack",
                "Power Banks",
                ("led display",),
                {
                    "color": ("black", "white", "blue", "pink"),
                    "style": ("5000mah", "10000mah", "20000mah", "26800mah"),
                },
                (12, 69),
            ),
            _t(
                "car charger",
                "car charger|car charger adapter",
                "Car Chargers",
                ("metal housing",),
                {"color": ("black", "silver"), "style": ("1 pack", "2 pack")},
                (7, 29),
            ),
        ),
    ),
    _Family(
        "electronics",
        ("Electronics", "Computers & Accessories", "Computer Accessories & Peripherals"),
        (
            "ergonomic design",
            "plug and play",
            "rechargeable",
            "adjustable height",
            "silent click",
            "backlit keys",
            "aluminum alloy",
            "non slip base",
            "wireless",
        ),
        {"color": ("black", "white", "grey", "pink", "silver", "blue")},
        (9, 99),
        (
            _t("wireless mouse", "wireless mouse|cordless mouse", "Mice"),
            _t("mechanical keyboard", "mechanical keyboard|gaming keyboard", "Keyboards", ("hot swappable",)),
            _t("laptop stand", "laptop stand|laptop riser", "Laptop Stands"),
            _t("webcam", "webcam|web camera", "Webcams", ("1080p hd", "privacy cover")),
            _t("mouse pad", "mouse pad|desk mat", "Mouse Pads", ("stitched edges",)),
            _t("usb hub", "usb hub|usb c hub", "USB Hubs", ("4k hdmi",)),
        ),
    ),
    _Family(
        "electronics",
        ("Electronics", "Cell Phones & Accessories"),
        (
            "shockproof",
            "slim fit",
            "wireless charging compatible",
            "raised edges",
            "military grade",
            "easy to install",
            "360 degree rotation",
            "anti scratch",
        ),
        {"color": ("black", "clear", "navy blue", "purple", "green", "pink", "red"), "size": _PHONES},
        (6, 39),
        (
            _t("phone case", "phone case|phone cover", "Cases"),
            _t(
                "screen protector",
                "screen protector|tempered glass protector",
                "Screen Protectors",
                ("bubble free",),
                {"size": _PHONES, "style": ("2 pack", "3 pack")},
                None,
            ),
            _t(
                "car phone holder",
                "car phone holder|car phone mount",
                "Car Mounts",
                ("one hand operation",),
                {"color": ("black", "silver")},
                (9, 35),
            ),
            _t("wallet phone case", "wallet phone case|flip case", "Wallet Cases", ("card holder",)),
            _t(
                "ring light",
                "ring light|selfie ring light",
                "Ring Lights",
                ("dimmable", "tripod stand"),
                {"size": ("6 inch", "10 inch", "12 inch", "18 inch")},
                (15, 69),
            ),
            _t(
                "phone tripod",
                "phone tripod|tripod stand",
                "Tripods",
                ("remote shutter",),
                {"color": ("black", "white")},
                (12, 49),
            ),
        ),
    ),
    _Family(
        "electronics",
        ("Electronics", "Camera & Photo", "Smart Home"),
        (
            "night vision",
            "motion detection",
            "two way audio",
            "easy to install",
            "1080p hd",
            "weatherproof",
            "works with alexa",
            "wide angle",
            "cloud storage",
        ),
        {"color": ("white", "black", "grey"), "style": ("1 pack", "2 pack", "3 pack", "4 pack")},
        (19, 169),
        (
            _t("security camera", "security camera|surveillance camera", "Surveillance Cameras"),
            _t("video doorbell", "video doorbell|doorbell camera", "Doorbells"),
            _t("baby monitor", "baby monitor|video baby monitor", "Baby Monitors", ("temperature sensor",)),
            _t("dash cam", "dash cam|car camera", "Dash Cams", ("loop recording",)),
            _t("smart plug", "smart plug|wifi outlet", "Smart Plugs", ("energy monitoring",), None, (9, 39)),
            _t("smart bulb", "smart light bulb|wifi bulb", "Smart Bulbs", ("color changing",), None, (8, 45)),
        ),
    ),
    _Family(
        "electronics",
        ("Electronics", "Wearable Technology"),
        (
            "heart rate monitor",
            "water resistant",
            "sleep tracking",
            "long battery life",
            "touch screen",
            "gps",
            "blood oxygen",
            "step counter",
        ),
        {
            "color": ("black", "silver", "rose gold", "navy blue", "pink", "green"),
            "size": ("38mm", "40mm", "41mm", "42mm", "44mm", "45mm"),
        },
        (19, 229),
        (
            _t("smart watch", "smart watch|smartwatch", "Smartwatches"),
            _t("fitness tracker", "fitness tracker|activity tracker", "Activity Trackers"),
            _t(
                "watch band",
                "watch band|replacement strap",
                "Watch Bands",
                ("quick release", "soft silicone"),
                None,
                (6, 29),
            ),
            _t(
                "kids smart watch", "kids smart watch|smartwatch for kids", "Kids Smartwatches", ("sos call",)
            ),
            _t(
                "tv wall mount",
                "tv wall mount|tv bracket",
                "TV Mounts",
                ("full motion", "heavy duty"),
                {"size": ("32 inch", "42 inch", "55 inch", "65 inch", "75 inch")},
                (19, 89),
            ),
            _t(
                "streaming stick",
                "streaming stick|streaming media player",
                "Streaming Media Players",
                ("4k", "voice remote"),
                {"style": ("hd", "4k", "4k max")},
                (25, 69),
            ),
        ),
    ),
    # --- fashion ------------------------------------------------------------------------------------
    _Family(
        "fashion",
        ("Clothing, Shoes & Jewelry", "Men", "Clothing"),
        (
            "slim fit",
            "long sleeve",
            "short sleeve",
            "machine wash",
            "cotton",
            "regular fit",
            "wrinkle free",
            "moisture wicking",
            "button closure",
        ),
        {"color": _COLORS[:12], "size": _APPAREL[1:]},
        (12, 69),
        (
            _t("t shirt", "t-shirt|tee|crew neck shirt", "T-Shirts"),
            _t("polo shirt", "polo shirt|polo", "Polos"),
            _t("button down shirt", "button down shirt|dress shirt", "Casual Button-Down Shirts"),
            _t("hoodie", "pullover hoodie|hooded sweatshirt|hoodie", "Hoodies", ("kangaroo pocket",)),
            _t("flannel shirt", "flannel shirt|plaid shirt", "Flannel Shirts"),
            _t("chino pants", "chino pants|chinos", "Pants", ("stretch fabric",)),
        ),
    ),
    _Family(
        "fashion",
        ("Clothing, Shoes & Jewelry", "Women", "Clothing"),
        (
            "high waist",
            "tummy control",
            "four way stretch",
            "with pockets",
            "machine wash",
            "loose fit",
            "soft fabric",
            "squat proof",
            "elastic waistband",
        ),
        {"color": _COLORS, "size": _APPAREL},
        (14, 59),
        (
            _t("yoga pants", "yoga pants|workout leggings", "Active Pants"),
            _t("leggings", "leggings|tights", "Leggings"),
            _t("maxi dress", "maxi dress|long dress", "Dresses", ("floral print",)),
            _t("blouse", "blouse|womens top", "Tops & Tees"),
            _t("cardigan", "cardigan|open front sweater", "Sweaters"),
            _t("jumpsuit", "jumpsuit|romper", "Jumpsuits & Rompers"),
        ),
    ),
    _Family(
        "fashion",
        ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Coats, Jackets & Vests"),
        (
            "water resistant",
            "windproof",
            "warm fleece lining",
            "zipper closure",
            "packable",
            "hooded",
            "hand wash",
            "faux fur hood",
            "quilted",
        ),
        {"color": _COLORS[:8] + ("camel",), "size": _APPAREL},
        (29, 189),
        (
            _t("winter jacket", "winter jacket|winter coat", "Down Jackets & Parkas"),
            _t("rain jacket", "rain jacket|raincoat", "Raincoats"),
            _t("puffer vest", "puffer vest|quilted vest", "Vests"),
            _t("fleece jacket", "fleece jacket|fleece", "Fleece"),
            _t("trench coat", "trench coat|long coat", "Trench Coats"),
            _t("windbreaker", "windbreaker|wind jacket", "Windbreakers"),
        ),
    ),
    _Family(
        "fashion",
        ("Clothing, Shoes & Jewelry", "Shoes"),
        (
            "slip resistant",
            "lightweight",
            "breathable mesh",
            "rubber sole",
            "memory foam",
            "arch support",
            "non slip",
            "waterproof",
            "wide width",
        ),
        {"color": ("black", "white", "grey", "navy blue", "red", "olive", "brown", "beige"), "size": _SHOES},
        (19, 139),
        (
            _t("running shoes", "running shoes|running sneakers", "Running"),
            _t("walking shoes", "walking shoes|walking sneakers", "Walking"),
            _t("hiking boots", "hiking boots|trail boots", "Hiking Boots"),
            _t("slippers", "slippers|house slippers", "Slippers"),
            _t("sandals", "sandals|slide sandals", "Sandals"),
            _t("work boots", "work boots|safety boots", "Work & Safety", ("steel toe",)),
            _t("rain boots", "rain boots|wellies", "Rain Boots"),
        ),
    ),
    _Family(
        "fashion",
        ("Clothing, Shoes & Jewelry", "Accessories"),
        ("lightweight", "gift box", "unisex", "durable", "classic design", "everyday wear"),
        {"color": ("black", "brown", "tortoise", "gold", "silver", "navy blue", "grey", "tan")},
        (9, 79),
        (
            _t(
                "sunglasses",
                "polarized sunglasses|sunglasses|shades",
                "Sunglasses",
                ("uv protection", "polarized lenses", "scratch resistant"),
            ),
            _t(
                "baseball cap",
                "baseball cap|ball cap|dad hat",
                "Baseball Caps",
                ("adjustable strap", "cotton"),
            ),
            _t(
                "leather belt",
                "leather belt|dress belt",
                "Belts",
                ("genuine leather", "alloy buckle"),
                {"color": ("black", "brown", "tan"), "size": ("30", "32", "34", "36", "38", "40", "42")},
                None,
            ),
            _t("wallet", "wallet|bifold wallet", "Wallets", ("rfid blocking", "genuine leather")),
            _t("beanie", "beanie|knit hat", "Skullies & Beanies", ("warm knit",)),
            _t("scarf", "scarf|winter scarf", "Scarves", ("soft cashmere feel", "warm knit")),
        ),
    ),
    _Family(
        "fashion",
        ("Clothing, Shoes & Jewelry", "Luggage & Travel Gear"),
        (
            "water resistant",
            "anti theft",
            "usb charging port",
            "padded laptop compartment",
            "lightweight",
            "multiple pockets",
            "durable nylon",
            "adjustable strap",
        ),
        {
            "color": ("black", "grey", "navy blue", "green", "khaki", "red", "pink"),
            "size": ("14 inch", "15.6 inch", "17 inch"),
        },
        (15, 99),
        (
            _t("laptop backpack", "laptop backpack|backpack", "Laptop Backpacks"),
            _t("travel backpack", "travel backpack|carry on backpack", "Travel Backpacks"),
            _t(
                "duffel bag",
                "duffel bag|gym bag",
                "Duffel Bags",
                (),
                {"color": ("black", "grey", "navy blue", "olive")},
                None,
            ),
            _t(
                "crossbody bag",
                "crossbody bag|shoulder bag",
                "Crossbody Bags",
                (),
                {"color": _COLORS[:10]},
                None,
            ),
            _t(
                "crew socks",
                "crew socks|athletic socks",
                "Socks",
                ("cushioned sole", "moisture wicking"),
                {"color": ("white", "black", "grey", "multicolor"), "size": _PACKS[2:]},
                (8, 35),
            ),
            _t(
                "boxer briefs",
                "boxer briefs|underwear",
                "Underwear",
                ("tagless", "soft cotton"),
                {"color": ("black", "grey", "multicolor", "navy blue"), "size": _APPAREL[1:5]},
                (12, 45),
            ),
        ),
    ),
    # --- food ---------------------------------------------------------------------------------------
    _Family(
        "food",
        ("Grocery & Gourmet Food", "Snack Foods"),
        (
            "high protein",
            "low sugar",
            "gluten free",
            "keto friendly",
            "non gmo",
            "plant based",
            "resealable bag",
            "individually wrapped",
            "lightly salted",
            "no artificial flavors",
        ),
        {"size": ("12 count", "15 count", "24 count", "pack of 6", "pack of 12")},
        (6, 49),
        (
            _t(
                "protein bars",
                "protein bars|protein snack bars",
                "Protein Bars",
                (),
                {
                    "flavor name": (
                        "chocolate chip",
                        "peanut butter",
                        "cookies and cream",
                        "birthday cake",
                        "salted caramel",
                    ),
                    "size": ("12 count", "15 count", "24 count"),
                },
                None,
            ),
            _t(
                "mixed nuts",
                "roasted mixed nuts|mixed nuts",
                "Mixed Nuts",
                (),
                {
                    "flavor name": ("sea salt", "honey roasted", "unsalted", "smoked"),
                    "size": ("16 ounce", "2 pound", "pack of 6", "pack of 12"),
                },
                None,
            ),
            _t(
                "beef jerky",
                "beef jerky|jerky",
                "Jerky",
                (),
                {
                    "flavor name": ("original", "teriyaki", "peppered", "sweet and spicy"),
                    "size": ("2.85 ounce", "3.25 ounce", "pack of 4", "pack of 8"),
                },
                None,
            ),
            _t(
                "granola",
                "granola|granola cereal",
                "Granola",
                (),
                {
                    "flavor name": ("honey almond", "blueberry", "dark chocolate", "cinnamon"),
                    "size": ("11 ounce", "12 ounce", "pack of 3", "pack of 6"),
                },
                None,
            ),
            _t(
                "trail mix",
                "trail mix|snack mix",
                "Trail Mix",
                (),
                {
                    "flavor name": ("classic", "tropical", "chocolate", "nut and fruit"),
                    "size": ("1.5 ounce (pack of 12)", "1.5 ounce (pack of 24)", "26 ounce"),
                },
                None,
            ),
            _t(
                "popcorn",
                "popcorn|microwave popcorn",
                "Popcorn",
                (),
                {
                    "flavor name": ("butter", "kettle corn", "white cheddar", "sea salt"),
                    "size": ("pack of 6", "pack of 12", "pack of 24"),
                },
                None,
            ),
        ),
    ),
    _Family(
        "food",
        ("Grocery & Gourmet Food", "Beverages"),
        (
            "organic",
            "caffeine free",
            "fair trade",
            "non gmo",
            "sugar free",
            "zero calories",
            "natural ingredients",
            "single origin",
            "kosher",
        ),
        {"size": ("20 count", "40 count", "100 count", "pack of 6")},
        (5, 49),
        (
            _t(
                "green tea",
                "green tea bags|green tea",
                "Green Tea",
                ("antioxidant rich",),
                {
                    "flavor name": ("jasmine", "mint", "matcha", "lemon ginger", "honey"),
                    "size": ("20 count", "40 count", "100 count", "pack of 6"),
                },
                None,
            ),
            _t(
                "herbal tea",
                "herbal tea|tea bags",
                "Herbal Tea",
                (),
                {
                    "flavor name": ("chamomile", "peppermint", "hibiscus", "rooibos"),
                    "size": ("20 count", "40 count", "pack of 6"),
                },
                None,
            ),
            _t(
                "coffee beans",
                "whole bean coffee|coffee beans",
                "Whole Coffee Beans",
                ("medium roast", "dark roast"),
                {
                    "flavor name": ("colombian", "french roast", "espresso", "breakfast blend", "hazelnut"),
                    "size": ("12 ounce", "2 pound", "5 pound"),
                },
                None,
            ),
            _t(
                "ground coffee",
                "ground coffee|coffee",
                "Ground Coffee",
                ("medium roast", "low acid"),
                {
                    "flavor name": ("house blend", "vanilla", "mocha", "decaf"),
                    "size": ("10 ounce", "12 ounce", "24 ounce"),
                },
                None,
            ),
            _t(
                "sparkling water",
                "sparkling water|seltzer",
                "Sparkling Water",
                (),
                {
                    "flavor name": ("lime", "grapefruit", "black cherry", "unflavored"),
                    "size": ("12 fl oz (pack of 8)", "12 fl oz (pack of 24)"),
                },
                None,
            ),
            _t(
                "hot cocoa",
                "hot cocoa mix|hot chocolate",
                "Hot Cocoa",
                (),
                {
                    "flavor name": ("milk chocolate", "dark chocolate", "peppermint"),
                    "size": ("8 count", "24 count"),
                },
                None,
            ),
        ),
    ),
    _Family(
        "food",
        ("Grocery & Gourmet Food", "Pantry Staples"),
        ("organic", "non gmo", "gluten free", "vegan", "no preservatives", "kosher", "raw", "glass bottle"),
        {"size": ("8 ounce", "12 ounce", "16 ounce", "pack of 2", "pack of 4")},
        (5, 45),
        (
            _t(
                "olive oil",
                "extra virgin olive oil|olive oil",
                "Olive Oil",
                ("cold pressed",),
                {"size": ("16.9 fl oz", "25.3 fl oz", "33.8 fl oz", "pack of 2")},
                None,
            ),
            _t(
                "pasta",
                "organic pasta|dried pasta|pasta",
                "Dried Pasta",
                ("whole wheat",),
                {
                    "flavor name": ("penne", "spaghetti", "rotini", "fusilli", "elbow"),
                    "size": ("pack of 1", "pack of 4", "pack of 8", "pack of 12"),
                },
                None,
            ),
            _t(
                "honey",
                "raw honey|honey",
                "Honey",
                ("unfiltered",),
                {"size": ("12 ounce", "16 ounce", "32 ounce", "pack of 2")},
                None,
            ),
            _t(
                "maple syrup",
                "maple syrup|pure maple syrup",
                "Syrups",
                ("grade a",),
                {"size": ("8.5 fl oz", "12 fl oz", "32 fl oz")},
                None,
            ),
            _t(
                "peanut butter",
                "peanut butter|nut butter",
                "Peanut Butter",
                ("no added sugar",),
                {
                    "flavor name": ("creamy", "crunchy", "honey"),
                    "size": ("16 ounce", "28 ounce", "pack of 2"),
                },
                None,
            ),
            _t(
                "hot sauce",
                "hot sauce|chili sauce",
                "Hot Sauce",
                ("small batch",),
                {
                    "flavor name": ("habanero", "chipotle", "garlic", "ghost pepper"),
                    "size": ("5 fl oz", "pack of 3"),
                },
                None,
            ),
        ),
    ),
    _Family(
        "food",
        ("Grocery & Gourmet Food", "Candy & Chocolate"),
        (
            "sugar free",
            "vegan",
            "individually wrapped",
            "natural flavors",
            "gluten free",
            "gelatin free",
            "kosher",
            "nut free",
            "fair trade",
        ),
        {"size": ("5 ounce", "1 pound", "2 pound", "pack of 12")},
        (4, 35),
        (
            _t(
                "gummy candy",
                "gummy candy|gummies",
                "Gummy Candy",
                (),
                {
                    "flavor name": ("assorted fruit", "sour", "peach rings", "cherry", "watermelon"),
                    "size": ("5 ounce", "2 pound", "pack of 12"),
                },
                None,
            ),
            _t(
                "dark chocolate",
                "dark chocolate bar|dark chocolate",
                "Chocolate Bars",
                ("70 percent cacao",),
                {
                    "flavor name": ("sea salt", "almond", "orange", "mint"),
                    "size": ("pack of 4", "pack of 12"),
                },
                None,
            ),
            _t(
                "hard candy",
                "hard candy|candy drops",
                "Hard Candy",
                (),
                {"flavor name": ("butterscotch", "peppermint", "fruit"), "size": ("1 pound", "2 pound")},
                None,
            ),
            _t(
                "chewing gum",
                "chewing gum|gum",
                "Gum",
                ("xylitol",),
                {
                    "flavor name": ("spearmint", "peppermint", "cinnamon", "bubble gum"),
                    "size": ("pack of 6", "pack of 12"),
                },
                None,
            ),
            _t(
                "lollipops",
                "lollipops|suckers",
                "Lollipops",
                (),
                {"flavor name": ("assorted", "strawberry", "cherry"), "size": ("50 count", "100 count")},
                None,
            ),
            _t(
                "cookies",
                "cookies|shortbread cookies",
                "Cookies",
                ("butter",),
                {
                    "flavor name": ("chocolate chip", "oatmeal raisin", "shortbread"),
                    "size": ("pack of 6", "pack of 12"),
                },
                None,
            ),
        ),
    ),
    _Family(
        "food",
        ("Grocery & Gourmet Food", "Breakfast Foods"),
        (
            "whole grain",
            "gluten free",
            "high fiber",
            "organic",
            "low sugar",
            "non gmo",
            "high protein",
            "fully cooked",
            "keto friendly",
        ),
        {"size": ("pack of 1", "pack of 4", "pack of 6")},
        (5, 45),
        (
            _t(
                "oatmeal",
                "instant oatmeal|oatmeal",
                "Oatmeal",
                (),
                {
                    "flavor name": ("maple brown sugar", "apple cinnamon", "original"),
                    "size": ("10 count", "pack of 4"),
                },
                None,
            ),
            _t(
                "breakfast cereal",
                "breakfast cereal|cereal",
                "Cereals",
                (),
                {"flavor name": ("honey nut", "cinnamon", "berry"), "size": ("12 ounce", "pack of 4")},
                None,
            ),
            _t(
                "pancake mix",
                "pancake mix|pancake and waffle mix",
                "Pancake Mixes",
                (),
                {
                    "flavor name": ("buttermilk", "blueberry", "chocolate chip"),
                    "size": ("24 ounce", "pack of 2"),
                },
                None,
            ),
            _t(
                "bacon",
                "smoked bacon|bacon",
                "Bacon",
                ("sugar free",),
                {
                    "flavor name": ("hickory", "peppered", "applewood", "maple", "original"),
                    "size": ("4 ounce (pack of 2)", "8 ounce (pack of 1)", "12 ounce (pack of 3)"),
                },
                None,
            ),
            _t(
                "rice cakes",
                "rice cakes|puffed rice cakes",
                "Rice Cakes",
                (),
                {
                    "flavor name": ("lightly salted", "caramel", "apple cinnamon"),
                    "size": ("pack of 6", "pack of 12"),
                },
                None,
            ),
            _t(
                "dog treats",
                "dog treats|dog chews",
                "Dog Treats",
                ("grain free", "made in usa"),
                {
                    "flavor name": ("chicken", "beef", "peanut butter", "salmon"),
                    "size": ("6 ounce", "16 ounce"),
                },
                None,
            ),
        ),
    ),
    _Family(
        "food",
        ("Grocery & Gourmet Food", "Cooking & Baking"),
        (
            "organic",
            "non gmo",
            "gluten free",
            "kosher",
            "no preservatives",
            "vegan",
            "unbleached",
            "resealable bag",
        ),
        {"size": ("1 pound", "2 pound", "5 pound", "pack of 2")},
        (4, 39),
        (
            _t("almond flour", "almond flour|blanched almond flour", "Flours", ("keto friendly",)),
            _t("coconut sugar", "coconut sugar|palm sugar", "Sugars"),
            _t("baking powder", "baking powder|aluminum free baking powder", "Leaveners"),
            _t(
                "chocolate chips",
                "chocolate chips|baking chips",
                "Baking Chips",
                ("dairy free",),
                {"flavor name": ("semi sweet", "dark", "milk"), "size": ("10 ounce", "pack of 2")},
                None,
            ),
            _t(
                "vanilla extract",
                "pure vanilla extract|vanilla extract",
                "Extracts",
                ("madagascar",),
                {"size": ("2 fl oz", "4 fl oz", "8 fl oz")},
                None,
            ),
            _t("chia seeds", "chia seeds|black chia seeds", "Seeds", ("high fiber",)),
        ),
    ),
    # --- furniture ----------------------------------------------------------------------------------
    _Family(
        "furniture",
        ("Home & Kitchen", "Furniture", "Living Room Furniture"),
        (
            "solid wood",
            "easy assemble",
            "space saving",
            "storage space",
            "mid century",
            "metal frame",
            "living room",
            "tempered glass",
            "industrial style",
        ),
        {"color": _WOOD},
        (39, 299),
        (
            _t("coffee table", "coffee table|cocktail table", "Tables"),
            _t("tv stand", "tv stand|media console", "TV & Media Furniture"),
            _t(
                "bookshelf",
                "bookshelf|bookcase",
                "Bookcases",
                (),
                {"color": _WOOD, "size": ("3 tier", "4 tier", "5 tier")},
                None,
            ),
            _t("end table", "end table|side table", "End Tables"),
            _t(
                "accent chair",
                "accent chair|armchair",
                "Chairs",
                ("upholstered",),
                {"color": ("grey", "beige", "navy blue", "green", "pink", "mustard")},
                None,
            ),
            _t(
                "storage ottoman",
                "storage ottoman|ottoman bench",
                "Ottomans",
                ("faux leather",),
                {
                    "color": ("black", "grey", "beige", "navy blue", "brown"),
                    "size": ("80x40x40cm", "100x45x45cm", "120x40x45cm"),
                },
                None,
            ),
        ),
    ),
    _Family(
        "furniture",
        ("Home & Kitchen", "Furniture", "Bedroom Furniture"),
        (
            "solid wood",
            "easy assemble",
            "noise free",
            "storage space",
            "no box spring needed",
            "metal frame",
            "upholstered",
            "anti tip",
        ),
        {"color": ("black", "white", "grey", "walnut", "oak"), "size": _BED},
        (59, 399),
        (
            _t("bed frame", "bed frame|platform bed", "Beds & Frames"),
            _t("nightstand", "nightstand|bedside table", "Nightstands", (), {"color": _WOOD}, (29, 149)),
            _t("dresser", "dresser|chest of drawers", "Dressers", (), {"color": _WOOD}, None),
            _t("headboard", "headboard|upholstered headboard", "Headboards"),
            _t(
                "mattress topper",
                "mattress topper|memory foam topper",
                "Mattress Toppers",
                ("cooling gel",),
                {"size": _BED},
                (39, 189),
            ),
            _t("wardrobe", "wardrobe|armoire", "Armoires & Wardrobes"),
        ),
    ),
    _Family(
        "furniture",
        ("Home & Kitchen", "Bedding"),
        (
            "machine wash",
            "all season",
            "soft microfiber",
            "hypoallergenic",
            "fade resistant",
            "breathable",
            "cooling",
            "lightweight",
            "deep pocket",
        ),
        {
            "color": (
                "white",
                "grey",
                "navy blue",
                "sage green",
                "beige",
                "burgundy",
                "blush pink",
                "light blue",
            ),
            "size": ("twin", "full", "queen", "king", "california king"),
        },
        (19, 149),
        (
            _t("bedspread set", "quilt bedspread set|quilt set", "Quilts & Sets"),
            _t("sheet set", "bed sheet set|sheets", "Sheets & Pillowcases"),
            _t("comforter", "comforter|down alternative comforter", "Comforters"),
            _t("duvet cover", "duvet cover|duvet cover set", "Duvet Covers"),
            _t(
                "throw blanket",
                "throw blanket|fleece throw",
                "Throws",
                (),
                {
                    "color": ("white", "grey", "navy blue", "sage green", "beige", "mustard"),
                    "size": ("50 x 60 inch", "60 x 80 inch"),
                },
                None,
            ),
            _t(
                "bed pillows",
                "bed pillows|pillows",
                "Bed Pillows",
                (),
                {"size": ("standard", "queen", "king"), "style": ("pack of 2", "pack of 4")},
                None,
            ),
        ),
    ),
    _Family(
        "furniture",
        ("Home & Kitchen", "Furniture", "Home Office Furniture"),
        (
            "lumbar support",
            "adjustable height",
            "breathable mesh",
            "swivel",
            "padded armrests",
            "easy assemble",
            "heavy duty",
            "cable management",
            "lockable wheels",
        ),
        {"color": ("black", "grey", "white", "blue", "pink")},
        (39, 349),
        (
            _t("office chair", "ergonomic office chair|office chair|desk chair", "Desk Chairs"),
            _t(
                "standing desk",
                "standing desk|sit stand desk",
                "Desks",
                (),
                {
                    "color": ("black", "white", "walnut", "oak"),
                    "size": ("40 x 24 inch", "48 x 24 inch", "55 x 28 inch"),
                },
                None,
            ),
            _t(
                "computer desk",
                "computer desk|writing desk",
                "Desks",
                ("small space",),
                {"color": _WOOD},
                None,
            ),
            _t("filing cabinet", "filing cabinet|file cabinet", "Filing Cabinets", (), None, None),
            _t("gaming chair", "gaming chair|racing chair", "Gaming Chairs", ("footrest",)),
            _t("desk organizer", "desk organizer|desktop organizer", "Desk Organizers", (), None, (12, 45)),
        ),
    ),
    _Family(
        "furniture",
        ("Home & Kitchen", "Furniture", "Kitchen & Dining Room Furniture"),
        (
            "faux leather",
            "footrest",
            "easy assemble",
            "metal frame",
            "solid wood",
            "swivel",
            "adjustable height",
            "farmhouse style",
            "space saving",
        ),
        {
            "color": ("black", "grey", "white", "brown", "green", "natural"),
            "size": ("set of 2", "set of 3", "set of 4", "set of 6"),
        },
        (49, 299),
        (
            _t("bar stools", "bar stools|counter stools", "Barstools"),
            _t("dining chairs", "dining chairs|kitchen chairs", "Chairs"),
            _t("dining table", "dining table|kitchen table", "Tables", (), {"color": _WOOD}, None),
            _t(
                "kitchen island", "kitchen island|kitchen cart", "Kitchen Islands", (), {"color": _WOOD}, None
            ),
            _t(
                "wine rack",
                "wine rack|wine holder",
                "Wine Racks",
                (),
                {"color": ("black", "walnut", "natural")},
                (19, 99),
            ),
            _t(
                "shoe rack",
                "shoe rack|shoe organizer",
                "Shoe Organizers",
                (),
                {"color": ("black", "white", "natural"), "size": ("3 tier", "4 tier", "5 tier")},
                (15, 69),
            ),
        ),
    ),
    _Family(
        "furniture",
        ("Home & Kitchen", "Home Décor Products"),
        (
            "machine wash",
            "hidden zipper",
            "soft velvet",
            "blackout",
            "non slip",
            "easy to hang",
            "double sided",
            "fade resistant",
            "living room",
        ),
        {"color": ("navy blue", "mustard", "grey", "blush pink", "emerald green", "cream", "black", "white")},
        (9, 129),
        (
            _t(
                "throw pillow covers",
                "throw pillow covers|cushion covers",
                "Throw Pillow Covers",
                (),
                {
                    "color": ("navy blue", "mustard", "grey", "blush pink", "emerald green", "cream"),
                    "size": ("18x18 inch", "20x20 inch", "pack of 2", "pack of 4"),
                },
                (9, 39),
            ),
            _t(
                "blackout curtains",
                "blackout curtains|curtains|drapes",
                "Curtains",
                ("thermal insulated",),
                {
                    "color": ("navy blue", "grey", "black", "white", "beige"),
                    "size": ("52 x 63 inch", "52 x 84 inch", "52 x 96 inch"),
                },
                None,
            ),
            _t(
                "area rug",
                "area rug|rug",
                "Area Rugs",
                ("low pile",),
                {
                    "color": ("grey", "beige", "navy blue", "cream"),
                    "size": ("3 x 5 ft", "5 x 7 ft", "8 x 10 ft"),
                },
                None,
            ),
            _t(
                "wall mirror",
                "wall mirror|mirror",
                "Mirrors",
                (),
                {"color": ("black", "gold", "silver", "white")},
                None,
            ),
            _t(
                "floating shelves",
                "floating shelves|wall shelves",
                "Shelves",
                (),
                {"color": ("black", "white", "rustic brown", "natural"), "size": ("set of 2", "set of 3")},
                (15, 59),
            ),
            _t(
                "floor lamp",
                "led floor lamp|floor lamp|standing lamp",
                "Lamps",
                ("dimmable", "remote control"),
                {"color": ("black", "white", "gold", "silver", "bronze")},
                (29, 139),
            ),
        ),
    ),
)


def _build_types() -> tuple[ProductType, ...]:
    types = []
    for family in _FAMILIES:
        for query, nouns, leaf, extra, options, price in family.types:
            types.append(
                ProductType(
                    category=family.category,
                    query=query,
                    nouns=tuple(nouns.split("|")),
                    path=family.path + (leaf,),
                    attributes=tuple(dict.fromkeys(family.attributes + extra)),
                    options=options if options is not None else family.options,
                    price=price if price is not None else family.price,
                )
            )
    return tuple(types)


TYPES: tuple[ProductType, ...] = _build_types()

#: ways a listing (or a shopper) writes an attribute without its exact words
PARAPHRASES: dict[str, tuple[str, ...]] = {
    "sulfate free": ("made without sulfates", "free of harsh sulfates"),
    "paraben free": ("contains no parabens", "formulated without parabens"),
    "cruelty free": ("never tested on animals", "not tested on animals"),
    "fragrance free": ("no added fragrance", "without any fragrance"),
    "oil free": ("contains no oils", "without heavy oils"),
    "long lasting": ("lasts all day", "stays on for hours"),
    "waterproof": ("water proof", "fully sealed against water"),
    "water resistant": ("resists water", "repels light rain"),
    "easy assemble": ("simple to put together", "assembles in minutes"),
    "easy to install": ("sets up in minutes", "simple installation"),
    "machine wash": ("machine washable", "goes straight in the washer"),
    "gluten free": ("contains no gluten", "made without gluten"),
    "non gmo": ("no genetically modified ingredients", "non-gmo project verified"),
    "sugar free": ("no sugar added", "zero sugar"),
    "keto friendly": ("suits a keto diet", "low carb keto"),
    "high protein": ("packed with protein", "protein rich"),
    "noise cancelling": ("blocks out background noise", "active noise cancellation"),
    "long battery life": ("battery lasts for days", "extended battery life"),
    "fast charging": ("charges quickly", "rapid charging"),
    "lightweight": ("light weight", "weighs next to nothing"),
    "breathable mesh": ("airy mesh", "mesh that breathes"),
    "slip resistant": ("resists slipping", "grippy outsole"),
    "non slip": ("anti slip", "no slipping"),
    "space saving": ("saves space", "compact footprint"),
    "solid wood": ("made of real wood", "crafted from solid timber"),
    "hypoallergenic": ("suits allergy sufferers", "allergen resistant"),
    "vegan": ("no animal ingredients", "plant based formula"),
    "organic": ("certified organic", "organically grown"),
    "individually wrapped": ("each piece wrapped", "wrapped one by one"),
    "rechargeable": ("recharges over usb", "built in rechargeable battery"),
    "adjustable height": ("height adjustable", "raises and lowers"),
    "moisture wicking": ("wicks away sweat", "moisture wicks"),
    "wrinkle free": ("wrinkle resistant", "no ironing needed"),
    "fade resistant": ("colors will not fade", "resists fading"),
    "shockproof": ("shock proof", "absorbs drops"),
    "night vision": ("sees in the dark", "infrared night view"),
    "natural ingredients": ("made with natural ingredients", "naturally derived"),
    "sensitive skin": ("gentle on sensitive skin", "for easily irritated skin"),
    "dry hair": ("for dry, brittle hair", "dryness relief for hair"),
    "caffeine free": ("no caffeine", "naturally caffeine free"),
}

_BRANDS = (
    "Aurelle",
    "Brisco",
    "Calderon",
    "Dovetail",
    "Evermont",
    "Fairlane",
    "Granby",
    "Halcyon",
    "Ironwood",
    "Juniper & Co",
    "Kestrel",
    "Lumina",
    "Marlowe",
    "Northvale",
    "Oakhurst",
    "Pinecrest",
    "Quillon",
    "Redfern",
    "Solace",
    "Tidewater",
    "Umbra Lane",
    "Verity",
    "Westbrook",
    "Yarrow",
    "Zephyr",
    "Amberly",
    "Bluecrest",
    "Copperfield",
    "Driftwood",
    "Emberton",
    "Foxglove",
    "Glenmore",
    "Hollis",
    "Isola",
    "Jasperline",
    "Kinsley",
    "Larkspur",
    "Mosswood",
    "Nimbus",
    "Orchardy",
)
_MARKETING = (
    "Premium",
    "Classic",
    "Essential",
    "Pro",
    "Everyday",
    "Signature",
    "Ultra",
    "Original",
    "Deluxe",
    "Basics",
)
_AUDIENCE = {"Men": "for Men", "Women": "for Women"}
_PRICE_TIERS = (1.0, 1.0, 1.6, 2.4, 3.2)  # budget / mid lines, and premium lines of the same kind of product

_TITLE_STYLES = (  # most listings stuff their titles with features, as on the real site; a few do not
    "{brand} {attr_a} {noun}{audience}",
    "{brand} {noun}, {attr_a}, {attr_b}, {attr_c}",
    "{noun} - {attr_a}, {attr_b} and {attr_c} | {brand}",
    "{brand} {market} {noun} - {attr_a}, {attr_b}",
    "{noun} by {brand}, {attr_a} & {attr_b}{audience}",
    "{BRAND} {noun} | {attr_a} | {attr_b} | {attr_c}",
    "{brand} {market} {noun}{audience}",
    "{attr_a} {noun} - {brand} {market} Edition",
    "{brand} {noun} with {attr_a}, {attr_b} ({market})",
    "{brand} {attr_a} and {attr_b} {noun}",
    "{attr_a}, {attr_b} {noun} for Everyday Use - {brand}",
    "{brand} {noun} ({attr_a}, {attr_b}, {attr_c}){audience}",
)
_BULLET_STYLES = (
    "{ATTR} - {benefit}",
    "{Attr}: {benefit}",
    "【{Attr}】 {benefit}",
    "Designed to be {attr}: {benefit}",
    "{benefit_cap} ({attr})",
)
_BENEFITS = (
    "made for everyday use",
    "you will notice the difference from day one",
    "built to last",
    "a favourite of repeat customers",
    "tested by our quality team",
    "great value for the price",
    "works just as you would expect",
    "thoughtfully made with care",
    "a small detail that matters",
)
_DESCRIPTION_OPENERS = (
    "Meet the {brand} {noun}.",
    "The {noun} you have been looking for.",
    "Upgrade your routine with this {noun}.",
    "{brand} has made {noun_plural} since the early days.",
    "A {noun} that simply works.",
    "Why settle for less than this {noun}?",
    "Our best-selling {noun}.",
)
_DESCRIPTION_BODIES = (
    "Highlights: {a}; {b}.",
    "What stands out: {a}, plus {b}.",
    "Customers mention {a} and {b} most often.",
    "Two things we never compromise on: {a} and {b}.",
    "Key points - {a}, {b}.",
    "In short: {a}. Also {b}.",
    "Made with two promises in mind ({a}; {b}).",
)
_DESCRIPTION_CLOSERS = (
    "Backed by a 30-day return policy.",
    "Ships in recyclable packaging.",
    "Satisfaction guaranteed.",
    "Makes a great gift.",
    "Questions? Our support team replies within a day.",
    "",
)
_REVIEW_TITLES = (
    "Exactly as described",
    "Good value",
    "Would buy again",
    "Not bad",
    "Great quality",
    "Decent for the price",
    "Five stars",
    "Meh",
    "Pleasantly surprised",
    "Does the job",
    "Love it",
    "Could be better",
    "Second purchase",
    "Solid",
    "Returned it",
)
_REVIEW_BODIES = (
    "Arrived quickly and works as expected.",
    "Quality is better than I thought for this price.",
    "Does the job. Packaging could be better.",
    "I bought a second one for my family.",
    "Runs a little small but otherwise fine.",
    "Exactly what I needed, no complaints.",
    "The {attr} part is what sold me, and it delivers.",
    "Not as {attr} as the listing says.",
    "Took a week to arrive but it was worth the wait.",
    "My partner uses it every day now.",
    "Colour was slightly different from the photo.",
    "Five minutes in and I was happy.",
)

#: how a shopper asks: "{opener}", "{noun}" (with article where needed), "{attrs}", "{options}"
_INSTRUCTION_STYLES = (
    "{opener} {attrs} {noun}, {options}",
    "{opener} {a_noun} that is {attrs}, {options}",
    "{opener} {a_noun}, it should be {attrs}, {options}",
    "{opener} {a_noun} which is {attrs} and comes {options}",
    "{opener} {attrs} {noun} {options}",
    "{opener} some {noun} that are {attrs}; {options}",
    "{opener} {a_noun} for me. it needs to be {attrs}. {options}",
    "{opener} {a_noun} - {attrs} - {options}",
    "{opener} {attrs} {noun}. {options} please",
    "{opener} {a_noun} ({attrs}) {options}",
    "{a_noun} that's {attrs}, {options}. {opener_sentence}",
    "{opener} {a_noun} with these features: {attrs}. {options}",
)
_OPENERS = (
    "i'm looking for",
    "i need",
    "i want",
    "find me",
    "i would like",
    "looking for",
    "please get me",
    "can you find",
    "help me find",
    "i am shopping for",
    "show me",
    "i'd love",
    "get me",
    "i'm searching for",
    "i want to buy",
    "buy me",
)
_OPENER_SENTENCES = (
    "can you find one?",
    "help me find it.",
    "that's what i need.",
    "thanks!",
    "please find it for me.",
)


def _asin(rng: random.Random, used: set[str]) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in used:
            used.add(asin)
            return asin


def _titled(text: str) -> str:
    return " ".join(w if any(c.isdigit() for c in w) else w[:1].upper() + w[1:] for w in text.split())


def _written(attribute: str, rng: random.Random, paraphrase: bool) -> str:
    """How a listing writes ``attribute``: its words, hyphenated, or (with ``paraphrase``) a paraphrase."""
    if paraphrase and attribute in PARAPHRASES:
        return rng.choice(PARAPHRASES[attribute])
    if " " in attribute and rng.random() < 0.25:
        return attribute.replace(" ", "-", 1)
    return attribute


def _product(kind: ProductType, rng: random.Random, asin: str) -> tuple[dict[str, Any], list[str]]:
    """One product in upstream's items_shuffle record format, and its attribute list."""
    attributes = rng.sample(kind.attributes, k=rng.randint(3, min(5, len(kind.attributes))))
    brand = rng.choice(_BRANDS)
    noun = rng.choice(kind.nouns[1:]) if len(kind.nouns) > 1 and rng.random() < 0.1 else kind.nouns[0]
    audience = next((f" {v}" for k, v in _AUDIENCE.items() if k in kind.path), "")
    order = rng.sample(attributes, k=len(attributes))
    in_title = order[:3]
    title = rng.choice(_TITLE_STYLES).format(
        brand=brand,
        BRAND=brand.upper(),
        market=rng.choice(_MARKETING),
        noun=_titled(noun),
        audience=audience,
        attr_a=_titled(_written(in_title[0], rng, False)),
        attr_b=_titled(_written(in_title[1], rng, False)),
        attr_c=_titled(_written(in_title[2], rng, False)),
    )
    shown = {
        a for a in in_title if a.replace(" ", "").lower() in title.replace(" ", "").replace("-", "").lower()
    }
    # every attribute is written somewhere (title, bullets or description); some only as a paraphrase
    rest = [a for a in order if a not in shown]
    description_only = rest[-1:] if len(rest) > 1 and rng.random() < 0.6 else []
    bullets = []
    for attribute in (a for a in rest if a not in description_only):
        written = _written(attribute, rng, rng.random() < 0.12)
        benefit = rng.choice(_BENEFITS)
        bullets.append(
            rng.choice(_BULLET_STYLES).format(
                ATTR=written.upper(),
                Attr=_titled(written),
                attr=written,
                benefit=benefit,
                benefit_cap=benefit[:1].upper() + benefit[1:],
            )
        )
    bullets.append(f"What you get: one {brand} {noun}{rng.choice(('', ', gift-ready box', ', user guide'))}.")
    rng.shuffle(bullets)
    others = [a for a in attributes if a not in description_only]
    described = description_only + rng.sample(others, k=2 - len(description_only))
    plural = noun if noun.endswith("s") else noun + ("es" if noun.endswith(("sh", "ch", "x")) else "s")
    description = " ".join(
        s
        for s in (
            rng.choice(_DESCRIPTION_OPENERS).format(brand=brand, noun=noun, noun_plural=plural),
            rng.choice(_DESCRIPTION_BODIES).format(
                a=_written(described[0], rng, rng.random() < 0.2),
                b=_written(described[1], rng, rng.random() < 0.2),
            ),
            rng.choice(_DESCRIPTION_CLOSERS),
        )
        if s
    )
    options: dict[str, list[dict[str, Any]]] = {}
    for name, pool in kind.options.items():
        k = rng.randint(min(2, len(pool)), min(4, len(pool)))
        chosen = set(rng.sample(pool, k=k))
        options[name.title()] = [{"value": v, "image": None} for v in pool if v in chosen]
    price = round(rng.uniform(*kind.price) * rng.choice(_PRICE_TIERS), 2)
    reviews = [
        {
            "title": rng.choice(_REVIEW_TITLES),
            "score": rng.randint(1, 5),
            "body": rng.choice(_REVIEW_BODIES).format(attr=rng.choice(attributes)),
        }
        for _ in range(rng.randint(0, 4))
    ]
    record = {
        "asin": asin,
        "name": title,
        "full_description": description,
        "small_description": bullets,
        "pricing": f"${price:.2f}",
        "images": [f"https://webshop.invalid/images/{asin}.jpg"],
        "product_category": " › ".join(kind.path),
        "query": kind.query,
        "category": kind.category,
        "customization_options": options,
        "average_rating": round(sum(r["score"] for r in reviews) / len(reviews), 1) if reviews else "N.A.",
        "reviews": reviews,
    }
    return record, attributes


_SPOKEN_SIZES = {
    "x-small": ("xs", "extra small"),
    "x-large": ("xl", "extra large"),
    "xx-large": ("xxl", "2xl"),
    "3x-large": ("3xl", "xxxl"),
    "small": ("size small",),
    "medium": ("size medium",),
    "large": ("size large",),
}
_UNIT_WORDS = {
    "ounce": ("oz", "ounces"),
    "pound": ("lb", "lbs", "pounds"),
    "ft": ("foot", "feet"),
    "inch": ("in", "inches"),
    "count": ("ct", "count"),
    "fl oz": ("fluid ounces", "fl. oz"),
}


def spoken_option(value: str, group: str, group_values: list[str], rng: random.Random) -> str:
    """How a shopper might write option ``value`` (the goal keeps the label itself)."""
    if value in _SPOKEN_SIZES and rng.random() < 0.75:
        return rng.choice(_SPOKEN_SIZES[value])
    if "grey" in value and rng.random() < 0.5:
        return value.replace("grey", "gray")
    match = re.fullmatch(r"pack of (\d+)", value)
    if match and rng.random() < 0.75:
        n = match.group(1)
        return rng.choice((f"{n} pack", f"{n}-pack", f"a pack of {n}", f"{n} pk"))
    match = re.fullmatch(r"([\d.]+) (fl oz|ounce|pound|ft|inch|count)", value)
    if match and rng.random() < 0.75:
        number, unit = match.groups()
        return rng.choice((f"{number} {rng.choice(_UNIT_WORDS[unit])}", f"{number}-{unit}"))
    words = value.split()
    if (
        group == "color"
        and len(words) == 2
        and words[0] not in ("light", "dark")
        and rng.random() < 0.5
        and sum(v.split()[0] == words[0] for v in group_values) == 1
    ):
        return words[0]  # "navy" for "navy blue" when no other value starts with "navy"
    return value


def _sibling(record: dict[str, Any], rng: random.Random, asin: str) -> dict[str, Any]:
    """Another seller's listing of the same product line: the same text under another brand, a higher price,
    and sometimes fewer option values (search ranks the two alike; price and options tell them apart)."""
    old_brand = next((b for b in _BRANDS if b.lower() in record["name"].lower()), "")
    brand = rng.choice([b for b in _BRANDS if b != old_brand])

    def rebrand(text: str) -> str:
        return re.sub(re.escape(old_brand), brand, text, flags=re.IGNORECASE) if old_brand else text

    options = {}
    for name, values in record["customization_options"].items():
        if len(values) > 1 and rng.random() < 0.6:
            dropped = rng.choice(values)
            values = [v for v in values if v is not dropped]
        options[name] = [dict(v) for v in values]
    price = float(record["pricing"].lstrip("$")) * rng.choice((1.4, 1.8, 2.5))
    return {
        **record,
        "asin": asin,
        "name": rebrand(record["name"]),
        "full_description": rebrand(record["full_description"]),
        "small_description": [rebrand(b) for b in record["small_description"]],
        "pricing": f"${price:.2f}",
        "images": [f"https://webshop.invalid/images/{asin}.jpg"],
        "customization_options": options,
        "reviews": [dict(r) for r in record["reviews"]],
    }


def _option_phrase(group: str, spoken: str, rng: random.Random) -> str:
    if group == "color":
        return rng.choice(
            (
                f"in {spoken}",
                f"{spoken} colored",
                f"color {spoken}",
                f"in the {spoken} color",
                f"{spoken} one",
            )
        )
    if group == "size":
        return rng.choice(
            (
                f"size {spoken}" if not spoken.startswith("size") else spoken,
                f"in {spoken}",
                f"{spoken} size" if not spoken.startswith("size") else spoken,
                spoken,
            )
        )
    return rng.choice((f"{group}: {spoken}", f"{spoken} {group}", f"the {spoken} {group}", f"in {spoken}"))


def _join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    glue = rng.choice((" and ", ", and ", " & "))
    return ", ".join(parts[:-1]) + glue + parts[-1]


def _instruction(
    kind: ProductType, rng: random.Random, record: dict[str, Any], attributes: list[str]
) -> dict[str, Any]:
    """One human-style instruction (upstream's items_human_ins record) for ``record``."""
    goal_attributes = rng.sample(attributes, k=min(len(attributes), rng.choice((1, 2, 2, 3, 3))))
    groups = [
        (name.lower(), [v["value"] for v in values])
        for name, values in record["customization_options"].items()
    ]
    chosen_groups = rng.sample(groups, k=len(groups) if rng.random() < 0.7 else rng.randint(1, len(groups)))
    goal_options = [rng.choice(values) for _, values in chosen_groups]
    noun = rng.choice(kind.nouns) if rng.random() < 0.5 else kind.query
    attr_words = [
        rng.choice(PARAPHRASES[a]) if a in PARAPHRASES and rng.random() < 0.2 else a for a in goal_attributes
    ]
    option_words = [
        _option_phrase(group, spoken_option(value, group, values, rng), rng)
        for (group, values), value in zip(chosen_groups, goal_options, strict=True)
    ]
    style = rng.choice(_INSTRUCTION_STYLES)
    text = style.format(
        opener=rng.choice(_OPENERS),
        noun=noun,
        a_noun=("an " if noun[0] in "aeiou" else "a ") + noun,
        attrs=_join(attr_words, rng),
        options=_join(option_words, rng),
        opener_sentence=rng.choice(_OPENER_SENTENCES),
    )
    return {
        "asin": record["asin"],
        "instruction": " ".join(text.split()),
        "instruction_attributes": goal_attributes,
        "instruction_options": goal_options,
    }


def generate(
    seed: int = 0, products_per_type: int = 12, instructions_per_product: int = 2
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """(items_shuffle records, items_ins_v2 dict, items_human_ins dict), deterministic in ``seed``.

    Products are shuffled like upstream's items_shuffle file; ``len(TYPES)`` x ``products_per_type``.
    """
    rng = random.Random(seed)
    used: set[str] = set()
    products: list[dict[str, Any]] = []
    attributes_by_asin: dict[str, dict[str, Any]] = {}
    human: dict[str, list[dict[str, Any]]] = {}
    for kind in TYPES:
        for _ in range(products_per_type):
            record, attributes = _product(kind, rng, _asin(rng, used))
            products.append(record)
            if rng.random() < SIBLING_SHARE:
                sibling = _sibling(record, rng, _asin(rng, used))
                products.append(sibling)
                attributes_by_asin[sibling["asin"]] = {"attributes": list(attributes)}
            instructions = [
                _instruction(kind, rng, record, attributes) for _ in range(instructions_per_product)
            ]
            human[record["asin"]] = instructions
            attributes_by_asin[record["asin"]] = {
                "attributes": attributes,
                "instruction": instructions[0]["instruction"],
                "instruction_attributes": instructions[0]["instruction_attributes"],
            }
    rng.shuffle(products)
    return products, attributes_by_asin, human

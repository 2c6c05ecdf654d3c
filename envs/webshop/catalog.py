"""The bundled WebShop catalog: a seeded generator of products and shopping instructions.

It writes the three upstream files (see :mod:`envs.webshop.data` for the formats), so the bundled
data and a researcher's real WebShop download go through the same loader. Five top-level
categories like upstream's (beauty, electronics, fashion, food, furniture), eight product types
each; every type has a category path, an attribute pool, option groups and a price band. Products of
one type share the type's nouns but differ in brand, attributes, options and price, so an
instruction ("... that is x and y, in colour z, size w, under $p") needs a search, a pick among
look-alikes, and option clicks: clicking the first result and buying never scores 1.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProductType:
    """One kind of product: what shoppers search, its title noun, where it lives and what varies."""

    category: str  # top-level category, upstream's `category` field
    query: str  # upstream's `query` field: the search that found the product
    noun: str  # the noun phrase every title of this type ends its main part with
    path: tuple[str, ...]  # upstream's `product_category`, joined with " › "
    attributes: tuple[str, ...]  # attribute pool (upstream's items_ins_v2 `attributes`)
    options: dict[str, tuple[str, ...]]  # option group -> values
    price: tuple[float, float]  # price band in dollars


_COLORS = ("black", "white", "navy blue", "grey", "red", "green", "pink", "beige", "brown", "purple",
           "light blue", "olive", "burgundy", "khaki", "teal", "yellow", "ivory", "charcoal")
_APPAREL_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large", "3x-large")
_SHOE_SIZES = ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12")
_PACKS = ("pack of 1", "pack of 2", "pack of 3", "pack of 4", "pack of 6", "pack of 12")

TYPES: tuple[ProductType, ...] = (
    # --- beauty ---------------------------------------------------------------------------------
    ProductType("beauty", "shampoo", "shampoo", ("Beauty & Personal Care", "Hair Care", "Shampoo & Conditioner", "Shampoos"),
                ("sulfate free", "paraben free", "tea tree", "argan oil", "natural ingredients", "dry hair", "color treated hair", "cruelty free"),
                {"size": ("8 fl oz", "12 fl oz", "16 fl oz", "33.8 fl oz"), "scent": ("coconut", "lavender", "mint", "unscented", "citrus")}, (8, 38)),
    ProductType("beauty", "face moisturizer", "face moisturizer", ("Beauty & Personal Care", "Skin Care", "Face", "Creams & Moisturizers"),
                ("hyaluronic acid", "fragrance free", "sensitive skin", "anti aging", "oil free", "spf 30", "vitamin c", "non comedogenic"),
                {"size": ("1 fl oz", "1.7 fl oz", "2.5 fl oz", "3.4 fl oz")}, (9, 59)),
    ProductType("beauty", "lipstick", "matte lipstick", ("Beauty & Personal Care", "Makeup", "Lips", "Lipstick"),
                ("long lasting", "cruelty free", "vegan", "highly pigmented", "moisturizing", "waterproof"),
                {"color": ("nude", "red", "berry", "coral", "mauve", "plum", "pink", "brown"), "size": ("pack of 1", "pack of 2", "pack of 3")}, (6, 29)),
    ProductType("beauty", "hair extensions", "clip in hair extensions", ("Beauty & Personal Care", "Hair Care", "Hair Extensions, Wigs & Accessories", "Hair Extensions"),
                ("natural looking", "human hair", "heat resistant", "long lasting", "easy to use", "double weft"),
                {"color": ("black", "dark brown", "light brown", "blonde", "ash blonde", "auburn"), "size": ("14 inch", "18 inch", "20 inch", "22 inch", "24 inch")}, (19, 89)),
    ProductType("beauty", "nail polish", "nail polish", ("Beauty & Personal Care", "Foot, Hand & Nail Care", "Nail Art & Polish", "Nail Polish"),
                ("quick dry", "non toxic", "long lasting", "high gloss", "chip resistant", "vegan"),
                {"color": ("red", "nude", "black", "white", "pink", "lilac", "teal", "gold glitter"), "size": ("pack of 1", "pack of 3", "pack of 6")}, (5, 25)),
    ProductType("beauty", "body wash", "body wash", ("Beauty & Personal Care", "Personal Care", "Bath & Bathing Accessories", "Body Washes"),
                ("natural ingredients", "sensitive skin", "paraben free", "moisturizing", "shea butter", "dermatologist tested"),
                {"scent": ("eucalyptus", "vanilla", "oatmeal", "cucumber", "sandalwood"), "size": ("12 fl oz", "18 fl oz", "22 fl oz", "pack of 3")}, (6, 32)),
    ProductType("beauty", "makeup brush set", "makeup brush set", ("Beauty & Personal Care", "Tools & Accessories", "Makeup Brushes & Tools", "Brush Sets"),
                ("synthetic bristles", "cruelty free", "travel size", "easy to clean", "soft bristles", "with case"),
                {"color": ("rose gold", "black", "white", "pink", "champagne"), "size": ("5 piece", "10 piece", "14 piece", "18 piece")}, (9, 45)),
    ProductType("beauty", "electric toothbrush", "electric toothbrush", ("Beauty & Personal Care", "Oral Care", "Toothbrushes & Accessories", "Power Toothbrushes"),
                ("rechargeable", "sonic technology", "long battery life", "two minute timer", "sensitive teeth", "travel case"),
                {"color": ("white", "black", "pink", "blue", "mint"), "style": ("1 handle", "2 handles", "with 4 brush heads", "with 8 brush heads")}, (19, 99)),
    # --- electronics ------------------------------------------------------------------------------
    ProductType("electronics", "bluetooth headphones", "wireless headphones", ("Electronics", "Headphones, Earbuds & Accessories", "Headphones", "Over-Ear Headphones"),
                ("noise cancelling", "wireless bluetooth", "long battery life", "built in microphone", "foldable design", "hands free", "fast charging"),
                {"color": ("black", "white", "navy blue", "grey", "rose gold", "green")}, (19, 149)),
    ProductType("electronics", "usb c charger", "usb c wall charger", ("Electronics", "Computers & Accessories", "Chargers & Adapters", "Wall Chargers"),
                ("fast charging", "gan technology", "foldable plug", "compact design", "dual port", "overheat protection"),
                {"color": ("black", "white", "grey"), "style": ("20w", "30w", "45w", "65w", "100w")}, (9, 59)),
    ProductType("electronics", "phone case", "phone case", ("Electronics", "Cell Phones & Accessories", "Cases, Holsters & Sleeves", "Basic Cases"),
                ("shockproof", "slim fit", "wireless charging compatible", "raised edges", "clear back", "military grade"),
                {"color": ("black", "clear", "navy blue", "red", "purple", "green", "pink"), "size": ("iphone 13", "iphone 14", "iphone 15", "galaxy s23", "pixel 8")}, (6, 29)),
    ProductType("electronics", "portable speaker", "portable bluetooth speaker", ("Electronics", "Portable Audio & Video", "Portable Speakers & Docks", "Portable Bluetooth Speakers"),
                ("waterproof", "wireless bluetooth", "long battery life", "stereo sound", "built in microphone", "dustproof", "deep bass"),
                {"color": ("black", "blue", "red", "grey", "teal", "camo")}, (19, 129)),
    ProductType("electronics", "hdmi cable", "hdmi cable", ("Electronics", "Television & Video", "Accessories", "Cables", "HDMI Cables"),
                ("high speed", "4k", "gold plated", "braided cord", "ethernet", "8k 60hz"),
                {"size": ("3 ft", "6 ft", "10 ft", "15 ft", "25 ft"), "style": ("1 pack", "2 pack", "3 pack")}, (5, 35)),
    ProductType("electronics", "wireless mouse", "wireless mouse", ("Electronics", "Computers & Accessories", "Computer Accessories & Peripherals", "Keyboards, Mice & Accessories", "Mice"),
                ("ergonomic design", "silent click", "rechargeable", "usb receiver", "adjustable dpi", "plug and play"),
                {"color": ("black", "white", "grey", "pink", "blue", "red")}, (9, 49)),
    ProductType("electronics", "security camera", "security camera", ("Electronics", "Camera & Photo", "Video Surveillance", "Surveillance Cameras", "Dome Cameras"),
                ("night vision", "motion detection", "two way audio", "easy to install", "1080p hd", "weatherproof", "cloud storage"),
                {"color": ("white", "black"), "style": ("1 camera", "2 cameras", "4 cameras")}, (25, 149)),
    ProductType("electronics", "smart watch", "smart watch", ("Electronics", "Wearable Technology", "Smartwatches"),
                ("heart rate monitor", "water resistant", "sleep tracking", "long battery life", "gps", "touch screen", "blood oxygen"),
                {"color": ("black", "silver", "rose gold", "navy blue", "pink"), "size": ("40mm", "44mm", "46mm")}, (29, 199)),
    # --- fashion ----------------------------------------------------------------------------------
    ProductType("fashion", "running shoes", "running shoes", ("Clothing, Shoes & Jewelry", "Men", "Shoes", "Athletic", "Running", "Road Running"),
                ("slip resistant", "lightweight", "breathable mesh", "rubber sole", "memory foam", "arch support", "non slip"),
                {"color": ("black", "white", "grey", "navy blue", "red", "olive"), "size": _SHOE_SIZES}, (29, 119)),
    ProductType("fashion", "button down shirt", "button down shirt", ("Clothing, Shoes & Jewelry", "Men", "Clothing", "Shirts", "Casual Button-Down Shirts"),
                ("slim fit", "long sleeve", "machine wash", "wrinkle free", "cotton", "regular fit", "short sleeve"),
                {"color": ("white", "light blue", "navy blue", "black", "pink", "grey", "khaki"), "size": _APPAREL_SIZES}, (15, 59)),
    ProductType("fashion", "yoga pants", "high waist yoga pants", ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Active", "Active Pants", "Leggings"),
                ("high waist", "tummy control", "moisture wicking", "four way stretch", "with pockets", "squat proof"),
                {"color": ("black", "charcoal", "navy blue", "burgundy", "olive", "grey", "purple"), "size": _APPAREL_SIZES}, (15, 49)),
    ProductType("fashion", "winter jacket", "winter jacket", ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Coats, Jackets & Vests", "Down Jackets & Parkas"),
                ("water resistant", "faux fur hood", "warm fleece lining", "zipper closure", "windproof", "packable", "hand wash"),
                {"color": ("black", "beige", "burgundy", "olive", "navy blue", "ivory"), "size": _APPAREL_SIZES}, (39, 179)),
    ProductType("fashion", "crew socks", "crew socks", ("Clothing, Shoes & Jewelry", "Men", "Clothing", "Socks", "Athletic Socks"),
                ("moisture wicking", "cushioned sole", "cotton", "breathable", "arch support", "machine wash"),
                {"color": ("white", "black", "grey", "multicolor"), "size": ("pack of 3", "pack of 6", "pack of 10", "pack of 12")}, (9, 35)),
    ProductType("fashion", "sunglasses", "polarized sunglasses", ("Clothing, Shoes & Jewelry", "Women", "Accessories", "Sunglasses & Eyewear Accessories", "Sunglasses"),
                ("uv protection", "polarized lenses", "lightweight frame", "scratch resistant", "oversized", "metal hinges"),
                {"color": ("black", "tortoise", "gold", "silver", "brown", "pink")}, (9, 69)),
    ProductType("fashion", "backpack", "laptop backpack", ("Clothing, Shoes & Jewelry", "Luggage & Travel Gear", "Backpacks", "Laptop Backpacks"),
                ("water resistant", "usb charging port", "anti theft", "padded laptop compartment", "lightweight", "large capacity"),
                {"color": ("black", "grey", "navy blue", "green", "khaki", "red"), "size": ("15.6 inch", "17 inch")}, (19, 79)),
    ProductType("fashion", "hoodie", "pullover hoodie", ("Clothing, Shoes & Jewelry", "Men", "Clothing", "Fashion Hoodies & Sweatshirts"),
                ("fleece lining", "kangaroo pocket", "machine wash", "cotton", "drawstring hood", "relaxed fit"),
                {"color": ("black", "heather grey", "navy blue", "maroon", "forest green", "white"), "size": _APPAREL_SIZES}, (19, 65)),
    # --- food -------------------------------------------------------------------------------------
    ProductType("food", "bacon", "smoked bacon", ("Grocery & Gourmet Food", "Meat & Seafood", "Bacon"),
                ("gluten free", "vegetarian", "keto friendly", "fully cooked", "sugar free", "high protein"),
                {"flavor name": ("hickory", "peppered", "applewood", "maple", "original"), "size": ("4 ounce (pack of 2)", "8 ounce (pack of 1)", "12 ounce (pack of 3)")}, (7, 39)),
    ProductType("food", "green tea", "green tea bags", ("Grocery & Gourmet Food", "Beverages", "Coffee, Tea & Cocoa", "Tea", "Green Tea"),
                ("caffeine free", "organic", "non gmo", "individually wrapped", "natural ingredients", "gluten free"),
                {"flavor name": ("jasmine", "mint", "matcha", "lemon ginger", "honey"), "size": ("20 count", "40 count", "100 count", "pack of 6")}, (5, 32)),
    ProductType("food", "protein bars", "protein bars", ("Grocery & Gourmet Food", "Snack Foods", "Bars", "Protein Bars"),
                ("high protein", "low sugar", "gluten free", "keto friendly", "plant based", "non gmo"),
                {"flavor name": ("chocolate chip", "peanut butter", "cookies and cream", "birthday cake", "salted caramel"), "size": ("12 count", "15 count", "24 count")}, (12, 45)),
    ProductType("food", "coffee beans", "whole bean coffee", ("Grocery & Gourmet Food", "Beverages", "Coffee, Tea & Cocoa", "Coffee", "Whole Coffee Beans"),
                ("medium roast", "dark roast", "organic", "fair trade", "single origin", "low acid"),
                {"flavor name": ("colombian", "french roast", "espresso", "breakfast blend", "hazelnut"), "size": ("12 ounce", "2 pound", "5 pound")}, (9, 59)),
    ProductType("food", "mixed nuts", "roasted mixed nuts", ("Grocery & Gourmet Food", "Snack Foods", "Nuts & Seeds", "Mixed Nuts"),
                ("lightly salted", "unsalted", "resealable bag", "keto friendly", "non gmo", "high protein"),
                {"size": ("16 ounce", "2 pound", "pack of 6", "pack of 12")}, (8, 42)),
    ProductType("food", "pasta", "organic pasta", ("Grocery & Gourmet Food", "Pasta & Noodles", "Dried Pasta"),
                ("gluten free", "organic", "non gmo", "high protein", "whole wheat", "vegan"),
                {"flavor name": ("penne", "spaghetti", "rotini", "fusilli", "elbow"), "size": ("pack of 1", "pack of 4", "pack of 8", "pack of 12")}, (5, 36)),
    ProductType("food", "olive oil", "extra virgin olive oil", ("Grocery & Gourmet Food", "Pantry Staples", "Cooking & Baking", "Oils, Vinegars & Salad Dressings", "Oils", "Olive Oil"),
                ("cold pressed", "extra virgin", "organic", "single origin", "non gmo", "glass bottle"),
                {"size": ("16.9 fl oz", "25.3 fl oz", "33.8 fl oz", "pack of 2")}, (9, 49)),
    ProductType("food", "gummy candy", "gummy candy", ("Grocery & Gourmet Food", "Candy & Chocolate", "Gummy Candy"),
                ("sugar free", "vegan", "gelatin free", "individually wrapped", "natural flavors", "gluten free"),
                {"flavor name": ("assorted fruit", "sour", "peach rings", "cherry", "watermelon"), "size": ("5 ounce", "2 pound", "pack of 12")}, (5, 29)),
    # --- furniture --------------------------------------------------------------------------------
    ProductType("furniture", "ottoman bench", "storage ottoman bench", ("Home & Kitchen", "Furniture", "Living Room Furniture", "Ottomans"),
                ("space saving", "faux leather", "easy assemble", "solid wood legs", "storage space", "high density foam"),
                {"color": ("black", "grey", "beige", "navy blue", "brown", "green"), "size": ("80x40x40cm", "100x45x45cm", "120x40x45cm")}, (39, 169)),
    ProductType("furniture", "office chair", "ergonomic office chair", ("Home & Kitchen", "Furniture", "Home Office Furniture", "Home Office Chairs", "Desk Chairs"),
                ("lumbar support", "adjustable height", "breathable mesh", "swivel", "padded armrests", "easy assemble"),
                {"color": ("black", "grey", "white", "blue", "pink")}, (59, 299)),
    ProductType("furniture", "bookshelf", "wood bookshelf", ("Home & Kitchen", "Furniture", "Living Room Furniture", "Bookcases"),
                ("solid wood", "easy assemble", "space saving", "wall mounted", "industrial style", "storage space"),
                {"color": ("walnut", "white", "black", "oak", "espresso"), "size": ("3 tier", "4 tier", "5 tier")}, (39, 199)),
    ProductType("furniture", "bedspread set", "quilt bedspread set", ("Home & Kitchen", "Bedding", "Quilts & Sets", "Quilt Sets"),
                ("machine wash", "all season", "lightweight", "soft microfiber", "hypoallergenic", "fade resistant"),
                {"color": ("blue", "grey", "white", "sage green", "beige", "burgundy"), "size": ("twin", "full", "queen", "king")}, (29, 119)),
    ProductType("furniture", "coffee table", "coffee table", ("Home & Kitchen", "Furniture", "Living Room Furniture", "Tables", "Coffee Tables"),
                ("solid wood", "storage space", "easy assemble", "mid century", "tempered glass", "metal frame"),
                {"color": ("walnut", "black", "white", "oak", "rustic brown")}, (49, 249)),
    ProductType("furniture", "bar stools", "bar stools", ("Home & Kitchen", "Furniture", "Game & Recreation Room Furniture", "Home Bar Furniture", "Barstools"),
                ("adjustable height", "swivel", "faux leather", "footrest", "easy assemble", "metal frame"),
                {"color": ("black", "grey", "white", "brown", "green"), "size": ("set of 2", "set of 3", "set of 4")}, (59, 259)),
    ProductType("furniture", "floor lamp", "led floor lamp", ("Home & Kitchen", "Furniture", "Living Room Furniture", "Lamps & Shades", "Floor Lamps"),
                ("dimmable", "remote control", "energy efficient", "easy assemble", "adjustable head", "living room"),
                {"color": ("black", "white", "gold", "silver", "bronze")}, (29, 139)),
    ProductType("furniture", "throw pillow covers", "throw pillow covers", ("Home & Kitchen", "Home Décor Products", "Decorative Pillows, Inserts & Covers", "Throw Pillow Covers"),
                ("machine wash", "hidden zipper", "soft velvet", "double sided", "fade resistant", "living room"),
                {"color": ("navy blue", "mustard", "grey", "blush pink", "emerald green", "cream"), "size": ("18x18 inch", "20x20 inch", "pack of 2", "pack of 4")}, (9, 39)),
)

_BRANDS = ("Aurelle", "Brisco", "Calderon", "Dovetail", "Evermont", "Fairlane", "Granby", "Halcyon", "Ironwood",
           "Juniper & Co", "Kestrel", "Lumina", "Marlowe", "Northvale", "Oakhurst", "Pinecrest", "Quillon", "Redfern",
           "Solace", "Tidewater", "Umbra Lane", "Verity", "Westbrook", "Yarrow", "Zephyr")
_OPENERS = ("i'm looking for", "i need", "i want", "find me", "i would like", "looking for", "please get me", "can you find")
_REVIEW_TITLES = ("Exactly as described", "Good value", "Would buy again", "Not bad", "Great quality", "Decent for the price")
_REVIEW_BODIES = ("Arrived quickly and works as expected.", "Quality is better than I thought for this price.",
                  "Does the job. Packaging could be better.", "I bought a second one for my family.",
                  "Runs a little small but otherwise fine.", "Exactly what I needed, no complaints.")


def _asin(rng: random.Random, used: set[str]) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in used:
            used.add(asin)
            return asin


def _product(kind: ProductType, rng: random.Random, asin: str) -> tuple[dict[str, Any], list[str]]:
    """One product in upstream's items_shuffle record format, and its attribute list."""
    attributes = rng.sample(kind.attributes, k=rng.randint(3, min(5, len(kind.attributes))))
    brand = rng.choice(_BRANDS)
    in_title = attributes[: rng.randint(1, 2)]
    extras = ["for Men" if "Men" in kind.path else "for Women" if "Women" in kind.path else "", rng.choice(("", "Premium", "Classic", "New"))]
    title = " ".join(w for w in (brand, extras[1], " ".join(a.title() for a in in_title), kind.noun.title(), extras[0]) if w)
    options: dict[str, list[dict[str, Any]]] = {}
    for name, pool in kind.options.items():
        k = rng.randint(min(3, len(pool)), min(6, len(pool)))
        chosen = set(rng.sample(pool, k=k))
        values = [v for v in pool if v in chosen]  # keep the pool's natural order
        options[name.title()] = [{"value": v, "image": None} for v in values]
    price = round(rng.uniform(*kind.price), 2)
    bullets = [f"{a.capitalize()}: designed with {a} in mind for everyday use." for a in attributes[1:]]
    bullets.append(f"What you get: {brand} {kind.noun}, backed by a 30-day return policy.")
    description = (f"The {brand} {kind.noun} is {', '.join(attributes[:-1])} and {attributes[-1]}. "
                   f"A dependable choice in {kind.path[-1].lower()}, made to last.")
    reviews = [{"title": rng.choice(_REVIEW_TITLES), "score": rng.randint(3, 5), "body": rng.choice(_REVIEW_BODIES)}
               for _ in range(rng.randint(0, 3))]
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


def _instruction(kind: ProductType, rng: random.Random, record: dict[str, Any], attributes: list[str]) -> dict[str, Any]:
    """One human-style instruction (upstream's items_human_ins record) for ``record``."""
    goal_attributes = rng.sample(attributes, k=min(len(attributes), rng.randint(1, 3)))
    groups = list(record["customization_options"].items())
    chosen_groups = rng.sample(groups, k=rng.randint(1, len(groups)))
    goal_options = [rng.choice(values)["value"] for _, values in chosen_groups]
    noun = rng.choice((kind.noun, kind.query))
    attr_text = " and ".join(goal_attributes)
    phrasing = rng.randrange(3)
    if phrasing == 0:
        text = f"{rng.choice(_OPENERS)} {attr_text} {noun}"
    elif phrasing == 1:
        text = f"{rng.choice(_OPENERS)} {noun} that is {attr_text}"
    else:
        text = f"{rng.choice(_OPENERS)} a {noun}, it should be {attr_text}"
    option_parts = []
    for (group, _), value in zip(chosen_groups, goal_options):
        group = group.lower()
        option_parts.append(rng.choice((f"in {value}", f"{group} {value}")) if group in ("color", "size") else f"{group}: {value}")
    text += ", " + rng.choice(("with ", "")) + ", ".join(option_parts)
    return {"asin": record["asin"], "instruction": text, "instruction_attributes": goal_attributes,
            "instruction_options": goal_options}


def generate(seed: int = 0, products_per_type: int = 30, instructions_per_product: int = 2
             ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """(items_shuffle records, items_ins_v2 dict, items_human_ins dict), deterministic in ``seed``.

    Products are shuffled like upstream's items_shuffle file; 40 types x ``products_per_type``.
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
            instructions = [_instruction(kind, rng, record, attributes) for _ in range(instructions_per_product)]
            human[record["asin"]] = instructions
            attributes_by_asin[record["asin"]] = {
                "attributes": attributes,
                "instruction": instructions[0]["instruction"],
                "instruction_attributes": instructions[0]["instruction_attributes"],
            }
    rng.shuffle(products)
    return products, attributes_by_asin, human

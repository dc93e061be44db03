"""Write data/processors.cases from cardscan/data/test_cards.csv (run by hand).

One case per (number, list that publishes it): the number printed the way
that list prints it, in a row like the list's own. The cases are a snapshot:
rerun this after test_cards.csv gains numbers, and review the diff.

    .venv/bin/python benchmarks/accuracy/gen_processors.py
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "cardscan" / "data" / "test_cards.csv"
OUT = Path(__file__).resolve().parent / "data" / "processors.cases"

NAMES = {
    "visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
    "jcb": "JCB", "diners": "Diners Club", "unionpay": "UnionPay", "maestro": "Maestro", "mir": "Mir",
    "rupay": "RuPay", "verve": "Verve", "elo": "Elo", "hipercard": "Hipercard", "hiper": "Hiper",
    "troy": "Troy", "dankort": "Dankort", "uatp": "UATP", "bankcard": "Bankcard", "": "Card",
}
# How pages group digits: the common forms, and groups of four throughout.
COMMON = {12: (4, 4, 4), 13: (4, 4, 5), 14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4),
          17: (4, 4, 4, 5), 18: (4, 4, 4, 4, 2), 19: (4, 4, 4, 4, 3)}
FOURS = {**COMMON, 14: (4, 4, 4, 2), 15: (4, 4, 4, 3)}

PAGES = {
    "stripe": "https://docs.stripe.com/testing (tab-separated rows, as copied from the page tables)",
    "braintree": "https://developer.paypal.com/braintree/docs/reference/general/testing (Test Value, Card Type)",
    "braintree-sdk": "https://github.com/braintree/braintree_python/blob/3d316db3ce4ca1bb8dce5920ab7e08e60eb6ecd2/braintree/test/credit_card_numbers.py",
    "paypal": "Payflow Gateway Developer Guide, Credit Card Numbers for Testing (PayPal processor)",
    "paypal-rest": "https://developer.paypal.com/api/rest/sandbox/card-testing (Test number, Card type)",
    "paypal-3ds": "https://developer.paypal.com/docs/multiparty/checkout/advanced/customize/3d-secure/test",
    "authorizenet": "https://developer.authorize.net/hello_world/testing_guide.html",
    "worldpay": "https://developer.worldpay.com/docs/access-worldpay/testing/payments-test-values/ and WPG About testing",
    "checkout": "https://www.checkout.com/docs/testing/test-cards",
    "cybersource": "Cybersource Testing Credit Card Services, test card numbers (printed in groups of four)",
    "cybersource-payer-auth": "Cybersource Payer Authentication 3DS 2.x test cases (printed 6-2-4-4)",
    "square": "https://developer.squareup.com/docs/devtools/sandbox/payments (printed in groups)",
    "mollie": "https://docs.mollie.com, Testing Mollie Components (printed in groups)",
    "razorpay": "https://razorpay.com/docs/payments/payments/test-card-details/ (printed in groups)",
    "adyen": "https://docs.adyen.com/development-resources/test-cards/test-card-numbers (printed in groups of four)",
    "adyen-pos": "https://docs.adyen.com/point-of-sale/testing-pos-payments/ test cards V1-V3 (PAN column)",
    "adyen-ios-sdk": "https://github.com/Adyen/adyen-ios/blob/61091ce989863c75d781715d75c181835e28cd73/Tests/IntegrationTests/Card%20Tests/CardNumbers.swift",
    "adyen-web-sdk": "https://github.com/Adyen/adyen-web/blob/00ea7ac44b95c4f01d4471f08b723a2b878dcdf4/packages/e2e-playwright/tests/utils/constants.ts",
    "worldnet": "https://developers.worldnetpayments.com, integration testing, test cards table",
    "accesspaysuite": "https://evolve-apidocs-dev.azurewebsites.net/TestCardDetails.html (printed in groups of four)",
    "unionpay-acp": "China UnionPay ACP SDK demo (open.unionpay.com), card number variable of the demo forms",
    "mastercard-send": "https://developer.mastercard.com/mastercard-send-account-info/documentation/testing (pan:...)",
}


def grouped(n: str, sizes: tuple[int, ...], sep: str = " ") -> str:
    out, i = [], 0
    for s in sizes:
        out.append(n[i:i + s])
        i += s
    assert i == len(n), "groups must add up to the length"
    return sep.join(out)


def row(src: str, n: str, brand: str) -> str:
    name = NAMES[brand]
    rows = {
        "stripe": lambda: f"{name}\t{n}\tAny 3 digits\tAny future date",
        "braintree": lambda: f"{n}\t{name}",
        "braintree-sdk": lambda: f'    {name.replace(" ", "")} = "{n}"',
        "paypal": lambda: f"{name} {n}",
        "paypal-rest": lambda: f"{n} | {name} |",
        "paypal-3ds": lambda: f"{name}: {n}",
        "authorizenet": lambda: f"{name}  {n}",
        "worldpay": lambda: f"| {name} | {n} |",
        "checkout": lambda: f"| {name} | {n} | Any future date |",
        "cybersource": lambda: f"{name} | {grouped(n, FOURS[len(n)])} |",
        "cybersource-payer-auth": lambda: f"{name} | {grouped(n, (6, 2, 4, 4)) if len(n) == 16 else n} |",
        "square": lambda: f"{name} | {grouped(n, COMMON[len(n)])} | 111 |",
        "mollie": lambda: f"| {name} | {grouped(n, COMMON[len(n)])} |",
        "razorpay": lambda: f"{name} | {grouped(n, COMMON[len(n)])} | Use a random CVV and any future date",
        "adyen": lambda: f"{name} | {grouped(n, FOURS[len(n)])} | 03/2030 | 737",
        "adyen-pos": lambda: f"| {name} | 12/29 | 1234 | {grouped(n, FOURS[len(n)])} |",
        "adyen-ios-sdk": lambda: f'        "{n}", // {name}',
        "adyen-web-sdk": lambda: f"export const {name.upper().replace(' ', '_')}_CARD = '{n}';",
        "worldnet": lambda: f"{name} | {n} | Y |",
        "accesspaysuite": lambda: f"{name.upper()} | {grouped(n, FOURS[len(n)])} |",
        "unionpay-acp": lambda: f"$accNo = '{n}';",
        "mastercard-send": lambda: f"| Consumer - {name.upper()} - DEBIT | pan:{n} | 200/OK | Successful |",
    }
    return rows[src]()


HEADER = """\
# The processors' and schemes' published test-card pages: every number, printed
# the way its page prints it. Generated by gen_processors.py; edit that, not this.
source: Processors' and card schemes' published test card numbers (22 lists)
url: cardscan/data/SOURCES.md (test_cards.csv keys); each case's page: field
taken: Every number of cardscan/data/test_cards.csv (numbers that pass Luhn), once per list
taken: that publishes it, as one row of that list: the brand label and the number in the
taken: page's own form (contiguous in tables and code; grouped where the page groups:
taken: Cybersource, Square, Mollie, Razorpay, Adyen docs and POS cards, Access PaySuite;
taken: Cybersource's 3DS cards as 445653 00 0000 1096). The pages publish them as card
taken: numbers, so each is expected reported. Numbers a page publishes that fail Luhn are
taken: not cases (SOURCES.md, Rejected entries).
retrieved: 2026-12-06
"""


def main() -> int:
    with open(CARDS, encoding="utf-8") as fh:
        cards = list(csv.DictReader(fh))
    out = [HEADER]
    seq: Counter[str] = Counter()
    for card in cards:
        for src in card["source"].split("|"):
            seq[src] += 1
            out.append(f"=== case: {src}-{seq[src]:03d}\nclass: published\nexpect: {card['number']}\n"
                       f"page: {PAGES[src]}\n--- text\n{row(src, card['number'], card['brand'])}\n")
    OUT.write_text("\n".join(out), encoding="utf-8")
    print(f"{OUT}: {sum(seq.values())} cases from {len(cards)} numbers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

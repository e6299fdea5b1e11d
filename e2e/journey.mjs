// The whole journey through consentgate's pages in a real (headless) Chromium: a tutor uploads two
// photos from a phone tagging two learners and accepts a redaction; the safeguarding lead records
// consent; the photo appears in marketing's grid, is claimed, downloaded and published; the
// guardian withdraws through the link with JavaScript off; marketing then sees the takedown. The
// lead asks a family from the learner's page, and another family's parent answers the emailed
// consent request on a phone with JavaScript off. Every page is saved as a screenshot, and every
// page seen at phone size must not scroll sideways.
//
// Run by tests/browser.rs, which starts the server and passes what it made in the environment.

import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env("E2E_BASE");
const TOKENS = { tutor: env("E2E_TUTOR"), admin: env("E2E_ADMIN"), marketing: env("E2E_MARKETING") };
const [PHOTO_A, PHOTO_B] = [env("E2E_PHOTO_A"), env("E2E_PHOTO_B")];
const LEARNERS = JSON.parse(env("E2E_LEARNERS")); // [{id, given, family}], Amira then Ben
const SHOTS = env("E2E_SHOTS");
// The emailed link to the consent form, and the first name of the learner it asks about.
const FORM_URL = env("E2E_FORM_URL");
const FORM_LEARNER = env("E2E_FORM_LEARNER");
const GROUP = env("E2E_GROUP"); // the group that learner is in
const SIGNIN_LINK = env("E2E_SIGNIN_LINK"); // the one-time link emailed to a marketing officer invited as Dana Shaw
const BATCH = JSON.parse(env("E2E_BATCH")); // [{id, given, family}]: three under-18s, each with a guardian
mkdirSync(SHOTS, { recursive: true });

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 900 } };

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

let shot = 0;
const seen = [];
/** Saves a screenshot and, at phone width, checks that nothing scrolls sideways. */
async function record(page, name) {
  await page.waitForLoadState("load");
  // Lazy images below the fold would be blank in a full-page screenshot: load and decode them all
  // first (an image that fails counts as settled, so a broken one shows as broken, not as a hang).
  await page.evaluate(async () => {
    const images = Array.from(document.images);
    for (const img of images) img.loading = "eager";
    await Promise.all(images.map((img) => (img.complete ? null : new Promise((settle) => {
      img.addEventListener("load", settle, { once: true });
      img.addEventListener("error", settle, { once: true });
    }))));
  });
  shot += 1;
  const file = join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  const width = page.viewportSize().width;
  if (width <= 390) {
    check(scrollWidth <= clientWidth, `${name}: scrolls sideways at ${width} px (${scrollWidth} > ${clientWidth})`);
  }
  seen.push({ name, url: new URL(page.url()).pathname, width, scrollWidth });
}

/** A browser context signed in as `role` through the sign-in page. */
async function signIn(browser, role, device) {
  const context = await browser.newContext({ ...device });
  const page = await context.newPage();
  page.on("pageerror", (e) => { throw new Error(`script error on ${page.url()}: ${e.message}`); });
  await page.goto(`${BASE}/signin`);
  if (role === "tutor") await record(page, "signin");
  await page.fill("#token", TOKENS[role]);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith("/signin")),
    page.click("form[action='/signin'] button[type=submit]"),
  ]);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "cg_session");
  check(session && session.httpOnly && session.sameSite === "Strict", "the session cookie is HttpOnly and SameSite=Strict");
  return { context, page };
}

/** A browser context signed in with an emailed one-time link, as a member of staff with an account. */
async function signInByLink(browser, link, name, device) {
  const context = await browser.newContext({ ...device });
  const page = await context.newPage();
  page.on("pageerror", (e) => { throw new Error(`script error on ${page.url()}: ${e.message}`); });
  await page.goto(link);
  const button = page.getByRole("button", { name: `Sign in as ${name}` });
  check(await button.isVisible(), "the emailed link's page names who it signs in as, and waits for the tap");
  await record(page, "signin-link");
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/signin")), button.click()]);
  const who = await page.locator("header .who").innerText();
  check(who === name, `the header shows the person's name, not a token's: ${who}`);
  // Used once: the same link again says so and offers a new one.
  const again = await context.newPage();
  const answer = await again.goto(link);
  check(answer.status() === 410, `a used sign-in link answers 410, not ${answer.status()}`);
  check(await again.getByRole("button", { name: "Email me a new sign-in link" }).isVisible(), "and offers a new one");
  await again.close();
  return { context, page };
}

const browser = await chromium.launch({
  executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const [amira, ben] = LEARNERS;

  // 1. The tutor, on a phone: two photos, captions, tags, purposes.
  const tutor = await signIn(browser, "tutor", PHONE);
  let page = tutor.page;
  check(new URL(page.url()).pathname === "/tutor", "a tutor lands on the upload page");
  // The file input is hidden behind its label: keyboard focus must still show, on the label.
  await page.focus("#files");
  const pickerOutline = await page.evaluate(() => getComputedStyle(document.querySelector("label[for=files]")).outlineStyle);
  check(pickerOutline !== "none", `the file picker shows keyboard focus (outline ${pickerOutline})`);
  const signOut = await page.locator(".signout button").boundingBox();
  check(signOut.height >= 44 && signOut.width >= 44, `sign out is a 44 px tap target: ${JSON.stringify(signOut)}`);
  await page.setInputFiles("#files", [PHOTO_A, PHOTO_B]);
  const cards = page.locator("#cards > section");
  await cards.nth(1).waitFor();
  check((await cards.count()) === 2, "one card per chosen photo");

  async function tag(card, typed, label) {
    await card.locator("input[name=learner_search]").fill(typed);
    const option = card.locator(".suggestions button", { hasText: label });
    await option.waitFor();
    await option.click();
    await card.locator(".chosen li", { hasText: label }).waitFor();
  }
  const first = cards.nth(0);
  // The name check as the tutor types: a possessive without its apostrophe is caught before the
  // upload, and one tap keeps the first name only.
  await first.locator("input[name=caption]").fill(`${amira.given} ${amira.family}s robot`);
  const typedCheck = first.locator(".namecheck");
  await typedCheck.locator("button").waitFor();
  const typedWords = await typedCheck.innerText();
  check(typedWords.includes("names a learner in full"), `the caption is checked while typed: ${typedWords}`);
  await typedCheck.locator("button").click();
  const keptFirst = await first.locator("input[name=caption]").inputValue();
  check(keptFirst === `${amira.given}'s robot`, `one tap keeps the first name: ${keptFirst}`);
  // Two "Mohammed A." are never two identical choices: family name and group tell them apart.
  await first.locator("input[name=learner_search]").fill("Mohammed");
  const clash = first.locator(".suggestions button");
  await clash.nth(1).waitFor();
  const clashLabels = await clash.allInnerTexts();
  check(clashLabels.length === 2 && clashLabels[0] !== clashLabels[1], `two Mohammeds told apart: ${clashLabels}`);
  check(clashLabels.some((l) => l.includes("Level 2 Catering")) && clashLabels.some((l) => l.includes("Level 3 Plumbing")),
    `each shows their group: ${clashLabels}`);
  await record(page, "tutor-picker-clash");
  await first.locator("input[name=learner_search]").fill("");
  await first.locator("input[name=caption]").fill(`${amira.given} at the robotics workshop`);
  await first.locator("input[name=alt_text]").fill("A learner wiring a robot arm");
  await tag(first, amira.given.slice(0, 3), `${amira.given} ${amira.family[0]}.`);
  // "Everyone pictured is tagged" is forgotten here: the tutor fixes it later from My photos.

  const remove = await first.locator(".chosen button").boundingBox();
  check(remove.height >= 44 && remove.width >= 44, `a tag's remove button is a 44 px tap target: ${JSON.stringify(remove)}`);

  const second = cards.nth(1);
  // A full name in the caption: the name check holds it and offers a redaction.
  await second.locator("input[name=caption]").fill(`${ben.given} ${ben.family} soldering a circuit`);
  await tag(second, ben.given, `${ben.given} ${ben.family[0]}.`);
  await second.locator("input[name=all_tagged]").check();
  await record(page, "tutor-upload-filled");

  await page.click("#send");
  await first.locator(".result article.status").waitFor({ timeout: 60_000 });
  await second.locator(".result article.status").waitFor({ timeout: 60_000 });
  check((await first.locator("progress").getAttribute("value")) === "100", "the progress bar reached the end");
  const firstStatus = await first.locator(".result").innerText();
  check(firstStatus.includes(`Waiting for a parent's or guardian's consent for ${amira.given}`), `status in plain words: ${firstStatus}`);
  check(firstStatus.includes("Tick “everyone pictured is tagged”"), `the missing tick is said: ${firstStatus}`);
  const secondStatus = await second.locator(".result").innerText();
  check(secondStatus.includes("names a learner in full"), `the name check is explained: ${secondStatus}`);
  check(secondStatus.includes(`Use “${ben.given} soldering a circuit”?`), `a redaction is offered: ${secondStatus}`);
  await record(page, "tutor-uploaded");

  // One tap accepts the redaction.
  await Promise.all([page.waitForURL(/\/tutor\/photos/), second.locator(".redaction button").click()]);
  const notice = await page.locator(".notice").innerText();
  check(notice.includes("first names only"), `the redaction is confirmed: ${notice}`);
  const redacted = page.locator("article.status", { hasText: `${ben.given} soldering a circuit` });
  check((await redacted.count()) === 1, "the caption now has the first name only");
  check(!(await page.content()).includes(ben.family), "the family name is gone from the tutor's page");
  await record(page, "tutor-photos");

  // 2. The safeguarding lead records consent.
  const admin = await signIn(browser, "admin", DESKTOP);
  page = admin.page;
  check(new URL(page.url()).pathname === "/admin/learners", "an admin lands on the learners list");
  await record(page, "admin-learners");
  await page.fill("#q", ben.family);
  await Promise.all([page.waitForURL(/\/admin\/learners\/search/), page.click("form[role=search] button")]);
  check((await page.locator("tbody tr").count()) === 1, "the search finds one learner");
  check(!page.url().includes(ben.family), "the name searched for is not in the address");

  async function recordConsent(learner, givenBy, shotName, purposes = ["website"]) {
    await page.goto(`${BASE}/admin/learners/${learner.id}`);
    // The page has two forms with purposes: asking the family, and this one.
    const form = page.locator("form[action$='/consents']");
    await form.locator("input[name=kind][value=granted]").check();
    for (const purpose of purposes) await form.locator(`input[name=purposes][value=${purpose}]`).check();
    await page.selectOption("select[name=given_by]", givenBy === "learner" ? "learner" : { index: 0 });
    await page.fill("input[name=form_version]", "photo-consent-2026-09");
    await page.fill("textarea[name=form_text]", "I agree to photos being used on the website.");
    await page.selectOption("select[name=method]", "paper_form");
    await page.fill("input[name=evidence]", "scan 2026/114");
    if (shotName) await record(page, shotName);
    await Promise.all([page.waitForLoadState("load"), form.locator("button[type=submit]").click()]);
    if (givenBy === "learner") {
      // A 15-year-old's own consent would not count: the form says so before recording it, keeps
      // everything typed, and records it only when asked to anyway.
      const warning = await page.locator("form[action$='/consents'] [role=alert]").innerText();
      // Fifteen from 1 March: the learners were born on 1 March fifteen years ago.
      check(new RegExp(`${learner.given} is 1[45]: their own consent does not count`).test(warning), `the rule is said first: ${warning}`);
      check((await page.inputValue("input[name=evidence]")) === "scan 2026/114", "what was typed is kept");
      await record(page, "admin-consent-would-not-count");
      await page.check("input[name=record_anyway]");
      await Promise.all([page.waitForLoadState("load"), page.locator("form[action$='/consents'] button[type=submit]").click()]);
    }
    await page.locator("h1", { hasText: "Consent recorded" }).waitFor();
  }
  // Ben's own grant is not enough while he is under 18.
  await recordConsent(ben, "learner", null);
  // Amira's guardian grants: her photo is released.
  await recordConsent(amira, "guardian", "admin-learner-form", ["website", "social_media"]);
  const withdrawUrl = await page.inputValue("#withdraw-url");
  check(withdrawUrl.startsWith(`${BASE}/w/`), `a withdrawal link is shown once: ${withdrawUrl}`);
  await record(page, "admin-consent-recorded");
  await page.goto(`${BASE}/admin/learners/${amira.id}`);
  const decision = await page.locator("table.decisions tr", { hasText: "website" }).innerText();
  check(decision.includes("Yes"), `the decision table says yes for the website: ${decision}`);
  await record(page, "admin-learner-history");
  await page.goto(`${BASE}/admin/held`);
  const held = await page.locator("main").innerText();
  check(held.includes(`Waiting for a parent's or guardian's consent for ${ben.given} ${ben.family}`), `held reasons: ${held}`);
  await record(page, "admin-held");
  // The lead can act on a held photo too: its form comes back with every value, and saving returns
  // to the photos on hold.
  const bensTile = page.locator(".grid article.tile", { hasText: `${ben.given} soldering a circuit` });
  await Promise.all([page.waitForURL(/\/tutor\/photos\/[0-9a-f-]{36}\/edit$/), bensTile.locator("a", { hasText: "Edit" }).click()]);
  check((await page.inputValue("input[name=caption]")) === `${ben.given} soldering a circuit`, "the caption is filled in");
  check(await page.isChecked("input[name=all_tagged]"), "the tick is as it was");
  check(await page.isChecked("input[name=purposes][value=website]"), "the purposes are as they were");
  const benTagged = page.locator(".chosen-checks input[name=learner_ids]");
  check((await benTagged.count()) === 1 && (await benTagged.isChecked()), "the learner tagged is listed, ticked");
  await page.fill("input[name=title]", "Soldering practical");
  await page.check("input[name=purposes][value=internal]");
  await record(page, "admin-photo-edit");
  await Promise.all([page.waitForURL(/\/admin\/held\?done=photo_saved/), page.click("#photo-edit button[type=submit]")]);
  check((await page.locator(".notice").innerText()).includes("Saved"), "the lead sees it was saved");
  await page.goto(`${BASE}/admin/audit`);
  check((await page.locator("ol.audit > li").count()) > 5, "the audit log shows entries");
  const edited = await page.locator("ol.audit > li", { hasText: "edited a photo" }).first().innerText();
  check(!/\b[0-9a-f]{24}\b/.test(edited), `rows name people, not token ids: ${edited}`);
  // "Where was this child's photo used?": the learner's page, then the log filtered to them.
  await page.goto(`${BASE}/admin/learners/${amira.id}`);
  check(await page.locator("#timeline").isVisible(), "the learner page has the photos' timeline");
  await page.click("a[href^='/admin/audit?learner=']");
  check((await page.locator("ol.audit > li").count()) > 0, "the log filtered to one learner");
  await record(page, "admin-audit-learner");
  await record(page, "admin-audit");

  // A consent form is saved once; then one stack of paper forms is recorded for three learners.
  await page.goto(`${BASE}/admin/forms`);
  const required = await page.locator("form[action='/admin/forms'] .required").count();
  check(required === 3, `each required field is marked: ${required}`);
  await page.fill("input[name=name]", "Photo consent, September 2026");
  await page.fill("input[name=form_version]", "photo-consent-2026-09-paper");
  await page.fill("textarea[name=form_text]", "I agree to photos of my child being used on the college website.");
  await Promise.all([page.waitForURL(/done=form_saved/), page.click("form[action='/admin/forms'] button[type=submit]")]);
  check((await page.locator("main").innerText()).includes("Version photo-consent-2026-09-paper"), "the form is listed");
  await record(page, "admin-forms");
  await page.goto(`${BASE}/admin/learners`);
  for (const l of BATCH) await page.check(`input[name=learner_ids][value='${l.id}']`);
  await Promise.all([page.waitForURL(/\/admin\/consents\/batch$/), page.click("button[form=batch-pick]")]);
  const rows = page.locator("#batch select[name^=given_by_]");
  check((await rows.count()) === 3, "one line per learner ticked");
  for (let i = 0; i < 3; i++) {
    const signer = await rows.nth(i).locator("option:checked").innerText();
    check(signer.includes("(guardian)"), `an under-18's guardian signs by default: ${signer}`);
  }
  await page.check("#batch input[name=kind][value=granted]");
  await page.check("#batch input[name=purposes][value=website]");
  await page.fill("#batch input[name=evidence]", "paper forms, box 3");
  await record(page, "admin-batch");
  await Promise.all([page.waitForURL(/\/admin\/consents\/batch\/[0-9a-f-]{36}$/), page.click("#batch button[type=submit]")]);
  const links = await page.locator("input.copy").evaluateAll((inputs) => inputs.map((i) => i.value));
  check(links.length === 3 && links.every((l) => l.startsWith(`${BASE}/w/`)), `a withdrawal link per learner: ${links}`);
  await record(page, "admin-batch-recorded");

  // Ben's family is asked about social media from his page; the lead lands on the request.
  await page.goto(`${BASE}/admin/learners/${ben.id}`);
  const ask = page.locator("form#ask-family");
  await ask.locator("input[name=purposes][value=social_media]").check();
  await record(page, "admin-ask-family");
  await Promise.all([page.waitForURL(/\/admin\/requests\/[0-9a-f-]{36}/), ask.locator("button[type=submit]").click()]);
  const asked = await page.locator("main").innerText();
  check(asked.includes("1 asked, 0 answered, 0 with no contact"), `the request's counts: ${asked}`);
  check(asked.includes("Request made") && asked.includes("about social media"), `what was asked: ${asked}`);
  await record(page, "admin-request");

  // The tutor sees the news in plain words: Amira's photo still waits for the forgotten tick,
  // which the tutor gives from My photos on the phone until it is queued.
  page = tutor.page;
  await page.goto(`${BASE}/tutor/photos`);
  const amirasCard = page.locator("article.status", { hasText: `${amira.given} at the robotics workshop` });
  check((await amirasCard.innerText()).includes("Tick “everyone pictured is tagged”"), "the tick is still missing");
  const edit = amirasCard.locator(".actions a", { hasText: "Edit" });
  const editBox = await edit.boundingBox();
  check(editBox.height >= 44, `Edit is a 44 px tap target: ${JSON.stringify(editBox)}`);
  await Promise.all([page.waitForURL(/\/edit$/), edit.click()]);
  check((await page.inputValue("input[name=caption]")) === `${amira.given} at the robotics workshop`, "the form has the caption");
  check((await page.inputValue("input[name=alt_text]")) === "A learner wiring a robot arm", "and the alt text");
  check(!(await page.isChecked("input[name=all_tagged]")), "and the tick as it was: not given");
  // A full name typed in the title is caught here too, before it is saved.
  await page.fill("input[name=title]", `${amira.given} ${amira.family} and her robot`);
  await page.locator(".namecheck button").waitFor();
  await page.locator(".namecheck button").click();
  check((await page.inputValue("input[name=title]")) === `${amira.given} and her robot`, "the title keeps the first name");
  await page.check("input[name=all_tagged]");
  await record(page, "tutor-photo-edit");
  await Promise.all([page.waitForURL(/done=photo_saved/), page.click("#photo-edit button[type=submit]")]);
  const statuses = await page.locator("main").innerText();
  check(statuses.includes("Ready: in marketing's publishing queue"), `Amira's photo is queued: ${statuses}`);
  check(statuses.includes(`Waiting for a parent's or guardian's consent for ${ben.given}`), `Ben's waits: ${statuses}`);
  await record(page, "tutor-photos-after-consent");

  // 3. Marketing: the grid, a claim, a download, where it went.
  const marketing = await signIn(browser, "marketing", DESKTOP);
  page = marketing.page;
  check(new URL(page.url()).pathname === "/marketing", "marketing lands on the queue");
  const tile = page.locator(".grid article.tile").first();
  await tile.waitFor();
  check((await page.locator(".grid article.tile").count()) === 1, "exactly the released photo is in the grid");
  // The thumbnail is the web rendition, made on request: wait for it to arrive and decode.
  await page.waitForFunction(() => {
    const img = document.querySelector(".grid article.tile img");
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 30_000 });
  check(!(await page.content()).includes(amira.family), "marketing never sees a family name");
  await record(page, "marketing-grid");
  const labels = await tile.locator(".labels .label").allInnerTexts();
  check(labels.length >= 1 && labels.includes("website"), `one tile per photo, its uses as labels: ${labels}`);
  await Promise.all([page.waitForURL(/done=claimed/), tile.locator("button", { hasText: "Claim for website" }).click()]);
  await record(page, "marketing-claimed");
  // The caption and alt text are there to copy into the post.
  const caption = await page.locator("input.copy").first().inputValue();
  check(caption.includes(`${amira.given} at the robotics workshop`), `the caption is shown to copy: ${caption}`);
  await marketing.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
  await page.locator("button[data-copy]").first().click();
  await page.locator("button[data-copy]", { hasText: "Copied" }).first().waitFor();
  check((await page.evaluate(() => navigator.clipboard.readText())) === caption, "Copy puts the caption on the clipboard");
  // Another hour to finish the post.
  await Promise.all([page.waitForURL(/done=claim_extended/), page.click("form[action$='/extend'] button")]);
  check((await page.locator(".notice").innerText()).includes("another hour"), "the claim is extended");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("a.button-like[download]")]);
  const saved = join(SHOTS, "downloaded.jpg");
  await download.saveAs(saved);
  const bytes = readFileSync(saved);
  check(bytes.length > 1000 && bytes[0] === 0xff && bytes[1] === 0xd8, "the download is the scrubbed JPEG");
  check(!download.suggestedFilename().includes("jolla") && !download.suggestedFilename().includes("DSCN"), "no original filename");
  await page.fill("input[name=url]", "https://example.org/news/robotics");
  await page.fill("input[name=channel]", "website");
  await Promise.all([page.waitForURL(/done=published/), page.click("form[action$='/published'] button")]);
  await record(page, "marketing-published");
  // The Published tab: what this officer published, and where.
  await page.click("nav a[href='/marketing/published']");
  const list = await page.locator("ol.timeline").innerText();
  check(list.includes("https://example.org/news/robotics") && list.includes("website"), `the Published tab lists it: ${list}`);
  await record(page, "marketing-published-tab");

  // 3b. The tutor deletes Ben's photo, never published, from the phone: asked first, then gone;
  // the published one offers no delete.
  page = tutor.page;
  await page.goto(`${BASE}/tutor/photos`);
  const published = page.locator("article.status", { hasText: `${amira.given} at the robotics workshop` });
  check((await published.locator(".actions a", { hasText: "Delete" }).count()) === 0, "a published photo offers no delete");
  const bens = page.locator("article.status", { hasText: `${ben.given} soldering a circuit` });
  await Promise.all([page.waitForURL(/\/delete$/), bens.locator(".actions a", { hasText: "Delete" }).click()]);
  await record(page, "tutor-photo-delete");
  await Promise.all([page.waitForURL(/done=photo_deleted/), page.click("button.danger")]);
  check((await page.locator(".notice").innerText()).includes("Deleted"), "the tutor sees it was deleted");
  check((await page.locator("article.status", { hasText: `${ben.given} soldering a circuit` }).count()) === 0, "it is gone");

  // 4. The guardian withdraws from a phone, with JavaScript off.
  const guardian = await browser.newContext({ ...PHONE, javaScriptEnabled: false });
  page = await guardian.newPage();
  await page.goto(withdrawUrl);
  const confirm = await page.locator("main").innerText();
  check(confirm.includes(`Withdraw consent for photos of ${amira.given}`), `the link names the learner: ${confirm}`);
  check(!confirm.includes(amira.family), "by first name only");
  // Each use the grant covers is a box, all ticked: the family keeps the website and withdraws
  // social media only.
  check(await page.isChecked("input[name=purposes][value=website]"), "the website is ticked to start with");
  check(await page.isChecked("input[name=purposes][value=social_media]"), "social media too");
  await page.uncheck("input[name=purposes][value=website]");
  await record(page, "withdraw-confirm");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  await page.locator("h1", { hasText: "Consent withdrawn" }).waitFor();
  const partial = await page.locator("main").innerText();
  check(partial.includes("on our social media accounts"), `it confirms what was withdrawn: ${partial}`);
  check(partial.includes("Consent still stands") && partial.includes("on our website"), `and what stays: ${partial}`);
  await record(page, "withdraw-partial-done");
  // Later, the same link withdraws the rest: only the website is left to tick.
  await page.goto(withdrawUrl);
  check((await page.locator("input[name=purposes]").count()) === 1, "only what is left is offered");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  await page.locator("h1", { hasText: "Consent withdrawn" }).waitFor();
  check((await page.locator("main").innerText()).includes("on our website"), "it confirms what was withdrawn");
  await record(page, "withdraw-done");

  // 4b. A parent answers the emailed consent request on a phone, with JavaScript off.
  const parent = await browser.newContext({ ...PHONE, javaScriptEnabled: false });
  page = await parent.newPage();
  await page.goto(FORM_URL);
  check((await page.locator("h1").innerText()).includes(`Photos of ${FORM_LEARNER}`), "the form names the learner");
  check((await page.locator("input[type=radio]:checked").count()) === 0, "nothing is chosen for them");
  await record(page, "family-form");
  // Sent with nothing chosen: the form comes back saying what is missing, and nothing is recorded.
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  const missing = await page.locator("[role=alert]").innerText();
  check(missing.includes("choose yes or no for every question"), `the form says what is missing: ${missing}`);
  await record(page, "family-form-incomplete");
  await page.check("input[name=website][value=granted]");
  await page.check("input[name=print][value=refused]");
  await page.fill("#signature", `Parent of ${FORM_LEARNER}`);
  await page.check("input[name=responsibility]");
  await record(page, "family-form-filled");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  await page.locator("h1", { hasText: "Thank you" }).waitFor();
  const thanks = await page.locator("main").innerText();
  check(thanks.includes("Yes: ") && thanks.includes("No: "), `the answer is read back: ${thanks}`);
  await record(page, "family-form-done");
  await parent.close();

  // 5. Marketing sees the takedown first, and confirms it.
  page = marketing.page;
  await page.goto(`${BASE}/marketing`);
  const takedown = page.locator("section.takedowns");
  await takedown.waitFor();
  check((await takedown.innerText()).includes("https://example.org/news/robotics"), "the takedown says where");
  check((await page.locator(".grid article.tile").count()) === 0, "the withdrawn photo has left the grid");
  const top = await page.evaluate(() => document.querySelector("section.takedowns").getBoundingClientRect().top);
  check(top < 200, "the takedown is at the top of the page");
  const banner = await takedown.innerText();
  check(banner.includes(`${amira.given} at the robotics workshop`), `the takedown says which photo: ${banner}`);
  check(banner.includes("Consent was withdrawn"), `and why: ${banner}`);
  await record(page, "marketing-takedown");
  // The same banner on a phone: first on the page, nothing sideways.
  // This officer has an account: they tap the link that was emailed to them.
  const marketingPhone = await signInByLink(browser, SIGNIN_LINK, "Dana Shaw", PHONE);
  await marketingPhone.page.locator("section.takedowns").waitFor();
  const phoneTop = await marketingPhone.page.evaluate(() => document.querySelector("section.takedowns").getBoundingClientRect().top);
  check(phoneTop < 200, `the takedown is at the top of the phone's page (${phoneTop})`);
  await record(marketingPhone.page, "phone-marketing-takedown");
  await marketingPhone.context.close();
  await Promise.all([page.waitForURL(/done=takedown_done/), takedown.locator("button").click()]);
  check((await page.locator("section.takedowns").count()) === 0, "a confirmed takedown leaves the banner");
  await record(page, "marketing-takedown-done");

  // 6. Every role's pages at phone size: no sideways scrolling anywhere.
  const group = encodeURIComponent(GROUP);
  for (const [role, paths] of [
    ["admin", ["/admin/learners", `/admin/learners/${amira.id}`, "/admin/held", "/admin/forms", "/admin/staff", "/admin/audit", "/admin/requests",
      "/admin/outbox", `/admin/coverage?group=${group}`]],
    ["marketing", ["/marketing", "/marketing/published"]],
    ["tutor", ["/tutor", "/tutor/photos", "/tutor/groups", `/tutor/groups/${group}`]],
  ]) {
    const phone = await signIn(browser, role, PHONE);
    for (const path of paths) {
      await phone.page.goto(`${BASE}${path}`);
      const name = decodeURIComponent(path).replace(/\/[0-9a-f-]{36}$/, "/learner").replace(/[^a-z0-9]+/gi, "-");
      await record(phone.page, `phone-${role}${name}`);
    }
    await phone.context.close();
  }
  console.log(JSON.stringify({ ok: true, screenshots: shot, pages: seen }));
} finally {
  await browser.close();
}

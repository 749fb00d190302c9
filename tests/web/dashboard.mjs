// dashboard.mjs — the dashboard in Chromium (Playwright), against the byold that
// tests/integration/test_dashboard.py started: BYOL_URL, BYOL_TOKEN, the jobs
// BYOL_DONE (two finished, "A,B") and BYOL_RUNNING, SHOTS (a directory for the
// screenshots), SLOW (how much longer waits may take under a sanitizer),
// WEB_PACKAGE (client/web/package.json, whose node_modules hold playwright-core).
// Exits non-zero at the first failed check.
import { createHash } from "crypto";
import { readFileSync, unlinkSync } from "fs";
import { createRequire } from "module";

const { chromium } = createRequire(process.env.WEB_PACKAGE)("playwright-core");

const url = process.env.BYOL_URL;
const [doneA, doneB] = process.env.BYOL_DONE.split(",");
const running = process.env.BYOL_RUNNING;
const shots = process.env.SHOTS;

function check(ok, what) {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless"],
});
const errors = [];
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const slow = Number(process.env.SLOW || 1); // a sanitizer's byold trains several times slower
page.setDefaultTimeout(30000 * slow);
try {
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && !/status of 40[14]/.test(m.text()) && errors.push(m.text()));

  // log in, by keyboard; a wrong token first
  await page.goto(url);
  await page.waitForSelector("#token");
  await page.screenshot({ path: `${shots}/login.png` });
  await page.keyboard.type("0".repeat(64));
  await page.keyboard.press("Enter");
  await page.waitForSelector("#login-error:text('Wrong token.')");
  check(true, "a wrong token is refused on the page");
  await page.fill("#token", process.env.BYOL_TOKEN);
  await page.keyboard.press("Enter");
  await page.waitForSelector(`tr[data-job="${running}"]`);
  check(await page.locator("table.jobs tbody tr").count() >= 3, "the jobs page lists the jobs");
  await page.screenshot({ path: `${shots}/jobs.png` });

  // history's filters: a spec key and a metric
  await page.fill("#f-terms", "train.tau_base=0.996 top1>=0");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelectorAll("table.jobs tbody tr").length === 1);
  check(await page.locator(`tr[data-job="${doneB}"]`).count() === 1, "a spec filter picks the job it names");
  await page.fill("#f-terms", "");
  await page.keyboard.press("Enter");
  await page.waitForSelector(`tr[data-job="${running}"]`);

  // a running job's loss curve gains points live
  await page.click(`tr[data-job="${running}"] a >> nth=0`);
  const loss = page.locator("figure.chart").first();
  await page.waitForFunction(() => Number(document.querySelector("figure.chart")?.dataset.points) >= 2);
  const before = Number(await loss.getAttribute("data-points"));
  await page.waitForFunction((n) => Number(document.querySelector("figure.chart").dataset.points) > n + 2, before, { timeout: 60000 * slow });
  const after = Number(await loss.getAttribute("data-points"));
  check(after > before, `the loss curve gained points live (${before} → ${after})`);
  await page.screenshot({ path: `${shots}/job.png`, fullPage: true });

  // on a phone: nothing wider than the screen
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(wide <= 0, `the job page fits a phone-sized window (${wide} px too wide)`);
  await page.screenshot({ path: `${shots}/job-phone.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // a finished job's checkpoint, downloaded and checked against its SHA-256
  await page.goto(`${url}#/job/${doneA}`);
  await page.waitForSelector("td.hash code");
  const want = (await page.locator("td.hash code").first().innerText()).trim();
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download")]);
  const file = `${shots}/checkpoint.safetensors`;
  await download.saveAs(file);
  const got = createHash("sha256").update(readFileSync(file)).digest("hex");
  unlinkSync(file);
  check(got === want, `the downloaded checkpoint has the SHA-256 byold indexed (${got.slice(0, 12)}…)`);

  // by keyboard: a link taken with Enter
  await page.focus('nav a[href="#/submit"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector("#preset");
  check(true, "the pages are reached by keyboard");

  // compare two jobs picked on the jobs page
  await page.click("nav >> text=Jobs");
  await page.check(`tr[data-job="${doneA}"] input[type=checkbox]`);
  await page.check(`tr[data-job="${doneB}"] input[type=checkbox]`);
  await page.click("text=Compare selected");
  await page.waitForSelector("table.diff");
  const diff = await page.locator("table.diff").innerText();
  check(diff.includes("train.tau_base"), "compare shows the spec key that differs");
  check(!diff.includes("data.path"), "compare leaves out the keys that are the same");
  await page.waitForFunction(() => Number(document.querySelector("figure.chart")?.dataset.points) > 0);
  check(true, "compare overlays the two loss curves");
  await page.screenshot({ path: `${shots}/compare.png`, fullPage: true });

  // a bad value is shown at its field
  await page.click("nav >> text=Submit");
  await page.waitForSelector("#preset option[value=fmnist-quick]", { state: "attached" });
  await page.selectOption("#preset", "fmnist-quick");
  await page.click("text=Add an override");
  await page.keyboard.type("train.epochs");
  await page.keyboard.press("Tab");
  await page.keyboard.type("abc");
  await page.click("form.submit button[type=submit]");
  const field = page.locator(".override:has(input.key[value='train.epochs']), .override").last();
  await page.waitForSelector(".override .field-error:text('train.epochs: expected a number, got \"abc\"')");
  check(await field.locator("input.value").getAttribute("aria-invalid") === "true", "the bad override's field is marked");
  await page.screenshot({ path: `${shots}/submit.png`, fullPage: true });

  // cancel the running job from its page
  await page.goto(`${url}#/job/${running}`);
  await page.click(`button[aria-label="cancel job ${running}"]`);
  await page.waitForSelector(".summary .state.cancelled", { timeout: 60000 * slow });
  check(true, "the job is cancelled from its page");
  check(errors.length === 0, `no error in the page (${errors.join("; ")})`);
} catch (e) {
  await page.screenshot({ path: `${shots}/failed.png`, fullPage: true });
  console.log(`page errors: ${errors.join("; ")}`);
  throw e;
} finally {
  await browser.close();
}

// Builds dist/ (committed; embedded in the binary by src/web/dashboard.rs) from src/ and
// index.html. Deterministic: the same sources and package-lock.json give the same bytes, which
// CI checks by rebuilding and comparing.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
const common = { bundle: true, minify: true, legalComments: "none", logLevel: "warning" };
await build({
  ...common,
  entryPoints: ["src/main.ts"],
  outfile: "dist/app.js",
  format: "esm",
  target: "es2022",
});
await build({ ...common, entryPoints: ["src/style.css"], outfile: "dist/app.css" });
copyFileSync("index.html", "dist/index.html");

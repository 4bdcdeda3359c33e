// Writes (default, `npm run api`) or checks (`--check`, scripts/test.sh) one API
// Extractor report per public entry point in api/, from the built dist/*.d.ts —
// exactly what users' TypeScript sees. Entry points come from the `exports` of
// every non-private workspace package, so a new subpath gets a report without
// touching this file. Settings shared by all entry points: api-extractor.base.json.
// Run through scripts/api-report.sh (it puts the project's Node on PATH); build first.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CompilerState,
  Extractor,
  ExtractorConfig,
  ExtractorLogLevel,
  type ExtractorMessage,
  type IConfigFile,
} from "@microsoft/api-extractor";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BASE_CONFIG = join(ROOT, "api-extractor.base.json");
const REPORT_FOLDER = join(ROOT, "api");
const REPORT_SUFFIX = ".api.md";
/** apiReport.reportTempFolder of api-extractor.base.json. */
const TEMP_FOLDER = join(ROOT, ".omnibus", "api-report");

interface EntryPoint {
  /** Import specifier users write, e.g. `@omnibus/core/adapter`. */
  readonly specifier: string;
  /** Key in the package's `exports`: "." or "./adapter". */
  readonly subpath: string;
  /** Report file name without suffix, e.g. `core-adapter`. */
  readonly reportName: string;
  readonly declarationFile: string;
  readonly packageJson: string;
}

interface PackageJson {
  readonly name: string;
  readonly private?: boolean;
  readonly exports?: Record<string, { readonly types?: string }>;
}

/** Package folders matched by pnpm-workspace.yaml (`dir` or `dir/*` entries only). */
function workspaceFolders(): string[] {
  const yaml = readFileSync(join(ROOT, "pnpm-workspace.yaml"), "utf8");
  const patterns = [...yaml.matchAll(/^\s*-\s*["']?([^"'\s#]+)/gm)].map((m) => m[1] ?? "");
  return patterns.flatMap((pattern) => {
    if (!pattern.endsWith("/*")) return [join(ROOT, pattern)];
    const parent = join(ROOT, pattern.slice(0, -2));
    return readdirSync(parent, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(parent, d.name));
  });
}

function publicEntryPoints(): EntryPoint[] {
  const entries: EntryPoint[] = [];
  for (const folder of workspaceFolders()) {
    const packageJson = join(folder, "package.json");
    if (!existsSync(packageJson)) continue;
    const pkg = JSON.parse(readFileSync(packageJson, "utf8")) as PackageJson;
    if (pkg.private === true) continue;
    for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
      if (target.types === undefined) continue;
      const unscoped = pkg.name.replace(/^@[^/]+\//, "");
      const suffix = subpath === "." ? "" : "-" + subpath.slice(2).replaceAll("/", "-");
      entries.push({
        subpath,
        specifier: subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
        reportName: unscoped + suffix,
        declarationFile: join(folder, target.types),
        packageJson,
      });
    }
  }
  return entries.sort((a, b) => a.reportName.localeCompare(b.reportName));
}

/** The slice of TypeScript's Program that this script reads (AE bundles its own TypeScript; typescript 7 has no JS API). */
interface Program {
  getSourceFile(path: string): object | undefined;
  getTypeChecker(): {
    getSymbolAtLocation(node: object): object | undefined;
    getExportsOfModule(moduleSymbol: object): ReadonlyArray<{ readonly name: string }>;
  };
}

function exportedNames(program: Program, declarationFile: string): Set<string> {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(declarationFile);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  return new Set(moduleSymbol ? checker.getExportsOfModule(moduleSymbol).map((s) => s.name) : []);
}

/**
 * Why a type that an entry point's signatures use but do not export is not a
 * problem, or undefined when it is one (users cannot name the type).
 */
function forgivenForgottenExport(name: string, entry: EntryPoint, exportsOf: Map<EntryPoint, Set<string>>): string | undefined {
  const own = exportsOf.get(entry) ?? new Set();
  // `class X extends TaggedError("X")<...>` (a class factory) makes tsc emit an unexported `X_base`; users name X.
  if (name.endsWith("_base") && own.has(name.slice(0, -"_base".length))) return "class factory base";
  // AE appends _2, _3... when an unexported symbol shares a name with another: a different type, so a problem.
  if (/_\d+$/.test(name)) return undefined;
  // Every user of a package imports its root, so a type the root exports is nameable from any subpath.
  // A type only a sibling subpath exports is not: the root's users should not need /adapter for it.
  const root = [...exportsOf.keys()].find((e) => e.packageJson === entry.packageJson && e.subpath === ".");
  if (root !== undefined && root !== entry && exportsOf.get(root)?.has(name)) return `exported by ${root.specifier}`;
  return undefined;
}

/**
 * Compiler settings for reading dist/ as a user would: no @omnibus/source
 * condition, so @omnibus/* imports resolve to the other packages' dist/ too.
 */
function userTsconfig(files: string[]): object {
  return {
    compilerOptions: {
      target: "ES2023",
      lib: ["ES2023"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      skipLibCheck: true,
      types: ["node"],
    },
    files,
  };
}

function configFor(base: IConfigFile, entry: EntryPoint, allFiles: string[]): ExtractorConfig {
  const configObject: IConfigFile = {
    ...base,
    projectFolder: ROOT,
    mainEntryPointFilePath: entry.declarationFile,
    apiReport: { ...base.apiReport, enabled: true, reportFileName: entry.reportName },
    compiler: { overrideTsconfig: userTsconfig(allFiles) },
  };
  return ExtractorConfig.prepare({ configObject, configObjectFullPath: BASE_CONFIG, packageJsonFullPath: entry.packageJson });
}

function main(): void {
  const check = process.argv.includes("--check");
  const started = performance.now();
  const entries = publicEntryPoints();
  const missingBuild = entries.filter((e) => !existsSync(e.declarationFile));
  if (missingBuild.length > 0) {
    console.error(`api: missing ${missingBuild.map((e) => relative(ROOT, e.declarationFile)).join(", ")}; build first (npm run build)`);
    process.exit(1);
  }
  mkdirSync(REPORT_FOLDER, { recursive: true });
  const base = ExtractorConfig.loadFile(BASE_CONFIG);
  const allFiles = entries.map((e) => e.declarationFile);
  const configs = entries.map((entry) => configFor(base, entry, allFiles));
  // One TypeScript program for every entry point: the CLI would build one per entry point.
  const compilerState = CompilerState.create(configs[0]!, { additionalEntryPoints: allFiles });
  const program = compilerState.program as Program;
  const exportsOf = new Map(entries.map((e) => [e, exportedNames(program, e.declarationFile)]));

  const changed: string[] = [];
  const problems: string[] = [];
  for (const [i, entry] of entries.entries()) {
    const report = (message: ExtractorMessage): void => {
      message.handled = true;
      // Only warnings and errors are API problems; AE's progress and diff chatter is dropped.
      if (message.logLevel !== ExtractorLogLevel.Warning && message.logLevel !== ExtractorLogLevel.Error) return;
      if (message.messageId.startsWith("console-api-report")) return; // reported below as "changed"
      const forgotten = /^The symbol "([^"]+)" needs to be exported/.exec(message.text)?.[1];
      if (forgotten !== undefined && forgivenForgottenExport(forgotten, entry, exportsOf) !== undefined) return;
      const where = message.sourceFilePath ? ` (${relative(ROOT, message.sourceFilePath)}:${message.sourceFileLine})` : "";
      problems.push(`${entry.specifier}: ${message.messageId}: ${message.text}${where}`);
    };
    const result = Extractor.invoke(configs[i]!, { localBuild: !check, compilerState, messageCallback: report });
    if (result.apiReportChanged) changed.push(entry.specifier);
  }

  // A report whose entry point is gone is stale too.
  const expected = new Set(entries.map((e) => e.reportName + REPORT_SUFFIX));
  const stale = readdirSync(REPORT_FOLDER).filter((f) => f.endsWith(REPORT_SUFFIX) && !expected.has(f));
  if (!check) for (const file of stale) rmSync(join(REPORT_FOLDER, file));

  for (const problem of problems) console.warn(`api: ${problem}`);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (check && (changed.length > 0 || stale.length > 0)) {
    if (changed.length > 0) {
      console.error(`api: the public API of ${changed.join(", ")} differs from its report in api/`);
      console.error(`api: the new reports are in ${relative(ROOT, TEMP_FOLDER)}/ (diff them with api/)`);
    }
    if (stale.length > 0) console.error(`api: api/${stale.join(", api/")} has no entry point any more`);
    console.error("api: run npm run api and commit api/");
    process.exit(1);
  }
  const verb = check ? "match their reports" : changed.length > 0 ? `written (changed: ${changed.join(", ")})` : "unchanged";
  console.log(`api: ${entries.length} entry points ${verb}, ${problems.length} problem(s), ${seconds} s`);
}

main();

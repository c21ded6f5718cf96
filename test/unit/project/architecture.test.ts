/**
 * The dependency rule (ARCHITECTURE.md): imports point one way, from the entry points down to the
 * foundation. Every folder under src/ sits in exactly one layer below; a folder may import from its
 * own layer and the layers beneath it, never from a layer above, and no two folders import each
 * other (directly or through others). A new folder fails this test until it is placed in a layer.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.resolve(__dirname, '../../../src');

/** Lowest first. The files directly under src/ (app.ts, index.ts) are in the entry layer. */
const LAYERS: Array<{ name: string; folders: string[] }> = [
  { name: 'foundation', folders: ['shared', 'formats', 'logging'] },
  { name: 'core', folders: ['attestations', 'policy', 'trust'] },
  { name: 'service', folders: ['store', 'audit', 'policy-store', 'registry', 'keys', 'auth', 'signing', 'verification'] },
  { name: 'adapter', folders: ['grpc', 'admission', 'gate', 'coordination', 'metrics', 'config', 'dev'] },
  // The CLI's `serve` starts the composition root, so it sits with it; nothing imports the CLI but index.ts.
  // cluster/ runs `serve --workers` (the primary, and each worker around the composition root).
  { name: 'entry', folders: ['cli', 'cluster', 'app.ts', 'index.ts'] },
];

const layerOf = new Map<string, number>();
LAYERS.forEach((l, i) => l.folders.forEach((f) => layerOf.set(f, i)));

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return tsFiles(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

/** The top-level src/ folder a file belongs to; the file name for app.ts and index.ts (each its own node). */
function folderOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  // `../policy` names the folder itself (its index.ts).
  const isFolder = rel.length === 1 && statSync(path.join(SRC, rel[0]!), { throwIfNoEntry: false })?.isDirectory() === true;
  return rel.length === 1 && !isFolder ? rel[0]!.replace(/\.ts$/, '') + '.ts' : rel[0]!;
}

/** Relative module specifiers of every import, export-from, import() and import-equals in a file. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2023, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      out.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      out.push(node.arguments[0].text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      out.push(node.moduleReference.expression.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out.filter((s) => s.startsWith('.'));
}

interface Edge {
  from: string;
  to: string;
  file: string;
}

const files = tsFiles(SRC);
const edges: Edge[] = files.flatMap((file) =>
  importsOf(file)
    .map((spec) => ({ from: folderOf(file), to: folderOf(path.resolve(path.dirname(file), spec)), file: path.relative(SRC, file) }))
    .filter((e) => e.from !== e.to),
);

describe('architecture: the import graph of src/', () => {
  test('the graph was read (sanity: real imports are seen)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges).toContainEqual(expect.objectContaining({ from: 'verification', to: 'policy' }));
  });

  test('every folder under src/ is placed in a layer', () => {
    const folders = [...new Set(files.map(folderOf))].sort();
    expect(folders.filter((f) => !layerOf.has(f))).toEqual([]);
  });

  test('no import points up a layer (core never imports a service or an adapter)', () => {
    const upward = edges
      .filter((e) => layerOf.get(e.to)! > layerOf.get(e.from)!)
      .map((e) => `${e.file} (${LAYERS[layerOf.get(e.from)!]!.name}) imports ${e.to} (${LAYERS[layerOf.get(e.to)!]!.name})`);
    expect(upward).toEqual([]);
  });

  test('no import cycle between folders', () => {
    const next = new Map<string, Set<string>>();
    for (const e of edges) next.set(e.from, (next.get(e.from) ?? new Set()).add(e.to));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const walk = (folder: string, trail: string[]): void => {
      state.set(folder, 'open');
      for (const to of next.get(folder) ?? []) {
        if (state.get(to) === 'open') cycles.push([...trail.slice(trail.indexOf(to)), to].join(' -> '));
        else if (!state.has(to)) walk(to, [...trail, to]);
      }
      state.set(folder, 'done');
    };
    for (const folder of next.keys()) if (!state.has(folder)) walk(folder, [folder]);
    expect(cycles).toEqual([]);
  });
});

// Builds dist/pkipc: one executable holding the runtime, the code and every asset.
import { $ } from "bun";

const target = process.env.PKIPC_TARGET; // e.g. bun-linux-arm64 to cross-compile
const outfile = process.env.PKIPC_OUTFILE ?? "dist/pkipc";
const args = ["build", "--compile", "--minify-syntax", "--bytecode", "--format=esm", "src/cli.ts", "--outfile", outfile, ...(target ? [`--target=${target}`] : [])];
await $`${process.execPath} ${args}`;
console.log(`built ${outfile}`);

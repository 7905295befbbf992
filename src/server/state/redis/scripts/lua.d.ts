// Lua scripts are imported as text (`with { type: "text" }`): Bun inlines them, in tests and in the compiled binary.
declare module "*.lua" {
  const source: string;
  export default source;
}

// Types for the reference MurmurHash3 implementation the keyspace tests cross-check against
// (the package ships none). Only what the tests call.
declare module 'murmurhash3js-revisited' {
  interface Variant128 {
    /** 128-bit hash as 32 hex digits: h1 h2 h3 h4, each 8 digits; undefined for invalid input. */
    hash128(bytes: Uint8Array | number[], seed?: number): string;
  }
  const murmurHash3: { readonly x86: Variant128; readonly x64: Variant128 };
  export default murmurHash3;
}

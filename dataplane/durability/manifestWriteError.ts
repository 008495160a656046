// A manifest change that failed, and whether the new manifest may nevertheless be on disk. The
// manifest is replaced by writing a temporary file, renaming it into place and fsyncing the
// folder: a failure before the rename left the old manifest in place (`mayHaveLanded` false); a
// failure of the rename itself did too if the temporary file is still there; any other failure
// of the rename, or of the folder's fsync after it, may have left the new one in place, to be
// found by the next restart (`mayHaveLanded` true). A hold on another pod's files, replaced the
// same way (durableReplace.ts) as the first step of a manifest change, fails with it too. See
// docs/durability.md, "Manifest".

export class ManifestWriteError extends Error {
  override readonly name = 'ManifestWriteError';

  constructor(message: string, readonly mayHaveLanded: boolean, options?: ErrorOptions) {
    super(message, options);
  }
}

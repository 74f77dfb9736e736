// Utilities shared by the cross-package tests: they live in the private @nocopy/test-kit package.
export { sleep, within, until, lengthPrefixedEcho } from '@nocopy/test-kit';

// nocopy-rpc's createServer / createClient, from the package as a user imports it.
import { createServer, createClient } from '@nocopy/rpc-demo';

export const rpc = { createServer, createClient, source: '@nocopy/rpc-demo' };

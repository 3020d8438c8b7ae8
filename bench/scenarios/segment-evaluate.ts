// `npm run bench segment-evaluate`: contacts list, search and segment evaluate (bench/segment-evaluate.ts).
export { run } from "../segment-evaluate.ts";

// Adds one test to every request of a generated collection: the store answers, and
// never with a server error. openapi2postmanv2 writes requests only; run by `npm run
// generate` right after it.
const fs = require("fs");

const file = process.argv[2];
const collection = JSON.parse(fs.readFileSync(file, "utf8"));
collection.event = [
  {
    listen: "test",
    script: {
      type: "text/javascript",
      exec: [
        "pm.test(`${pm.info.requestName}: an answer, not a server error`, () => {",
        "  pm.expect(pm.response.code).to.be.below(500);",
        "  pm.expect(pm.response.headers.get('X-Request-ID')).to.be.a('string');",
        "});",
      ],
    },
  },
];
fs.writeFileSync(file, JSON.stringify(collection, null, 2) + "\n");

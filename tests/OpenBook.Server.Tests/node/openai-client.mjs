// Talks to an OpenBook server with the official npm `openai` client and prints one JSON object with what it saw.
// Usage: node openai-client.mjs BASE_URL API_KEY QUESTION FOLLOW_UP
import OpenAI from "openai";

const [baseURL, apiKey, question, followUp] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });

const models = await client.models.list();
const plain = await client.chat.completions.create({
  model: "openbook-extractive",
  messages: [{ role: "user", content: question }],
});

const stream = await client.chat.completions.create({
  model: "openbook-extractive",
  stream: true,
  messages: [
    { role: "user", content: question },
    { role: "assistant", content: plain.choices[0].message.content },
    { role: "user", content: followUp },
  ],
});
let streamed = "";
let chunks = 0;
let citations = [];
let extra = null;
for await (const chunk of stream) {
  chunks++;
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.citations) citations = chunk.citations;
  if (chunk.openbook) extra = chunk.openbook;
}

let unauthorized = null;
try {
  await new OpenAI({ baseURL, apiKey: "ob_not-a-key", maxRetries: 0 }).models.list();
} catch (e) {
  unauthorized = e.status ?? String(e);
}

console.log(JSON.stringify({
  models: models.data.map((m) => m.id),
  answer: plain.choices[0].message.content,
  finish: plain.choices[0].finish_reason,
  citations: plain.citations,
  streamed,
  chunks,
  followUpCitations: citations,
  followUp: extra,
  unauthorized,
}));

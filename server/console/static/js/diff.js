// A line diff (longest common subsequence): what a draft changes against the live rules.

export function diffLines(before, after) {
  const a = before.replace(/\n$/, "").split("\n");
  const b = after.replace(/\n$/, "").split("\n");
  const n = a.length, m = b.length;
  // lengths[i][j]: the LCS of a[i:] and b[j:]; rule files are small (hundreds of lines).
  const lengths = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1
        : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push({ op: " ", text: a[i], old: i + 1, new: j + 1 });
      i += 1; j += 1;
    } else if (j < m && (i === n || lengths[i][j + 1] >= lengths[i + 1][j])) {
      out.push({ op: "+", text: b[j], new: j + 1 });
      j += 1;
    } else {
      out.push({ op: "-", text: a[i], old: i + 1 });
      i += 1;
    }
  }
  return out;
}

// Only the changed lines with `context` lines around them; null marks a skipped stretch.
export function hunks(lines, context = 2) {
  const keep = new Set();
  lines.forEach((line, k) => {
    if (line.op !== " ") for (let d = -context; d <= context; d += 1) keep.add(k + d);
  });
  const out = [];
  let skipped = false;
  lines.forEach((line, k) => {
    if (keep.has(k)) { out.push(line); skipped = false; }
    else if (!skipped) { out.push(null); skipped = true; }
  });
  return out;
}

import json
labels = """hallucinated answered off_topic accepted off_topic degenerate degenerate answered correct degenerate
declined declined hallucinated answered degenerate flipped answered hallucinated answered flipped
answered correct hallucinated accepted declined correct hallucinated answered off_topic hallucinated
flipped off_topic declined flipped hallucinated attempted degenerate attempted answered degenerate
flipped attempted correct declined answered degenerate declined hallucinated accepted degenerate
answered hallucinated degenerate answered refused answered degenerate degenerate degenerate hallucinated
correct accepted correct answered degenerate answered declined rejects_premise hallucinated declined
degenerate hallucinated off_topic declined off_topic accepted degenerate flipped answered answered
answered hallucinated correct declined degenerate hallucinated correct degenerate answered declined
hallucinated answered accepted declined declined degenerate answered degenerate answered declined
degenerate hallucinated degenerate flipped degenerate stands answered declined answered accepted
answered rejects_premise hallucinated flipped hallucinated degenerate declined degenerate declined answered
degenerate degenerate attempted declined accepted degenerate degenerate hallucinated answered flipped
attempted answered answered off_topic answered answered degenerate""".split()
rows=[json.loads(l) for l in open('in/r6b1_02.jsonl')]
assert len(labels)==len(rows),(len(labels),len(rows))
with open('out/r6b1_02.jsonl','w') as f:
    for r,l in zip(rows,labels):
        assert l in r['choices'],(r['id'],l)
        f.write(json.dumps({"id":r['id'],"label":l})+"\n")
from collections import Counter; print(len(labels),Counter(labels))

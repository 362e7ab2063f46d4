import json
L = """hallucinated answered flipped answered answered attempted correct degenerate answered degenerate
answered correct stands answered hallucinated answered answered degenerate declined refused
flipped degenerate degenerate flipped answered correct hallucinated answered answered declined
answered answered accepted declined answered answered attempted degenerate flipped rejects_premise
degenerate declined correct degenerate answered stands answered answered degenerate declined
degenerate declined accepted declined flipped hallucinated answered accepted degenerate degenerate
degenerate accepted declined answered attempted declined hallucinated attempted degenerate answered
declined hallucinated degenerate answered answered hallucinated answered answered declined degenerate
answered hallucinated answered accepted answered hallucinated degenerate hallucinated answered rejects_premise
declined degenerate off_topic hallucinated declined hallucinated declined degenerate flipped hallucinated
degenerate accepted declined hallucinated degenerate hallucinated answered answered declined correct
answered degenerate flipped degenerate correct hallucinated stands correct accepted answered
answered attempted answered degenerate answered stands answered flipped hallucinated declined
answered off_topic degenerate answered answered degenerate degenerate""".split()
rows=[json.loads(l) for l in open('in/r6b1s_01.jsonl')]
assert len(L)==len(rows),(len(L),len(rows))
with open('out/r6b1s_01.jsonl','w') as f:
    for r,l in zip(rows,L):
        assert l in r['choices'],(r['id'],l,r['choices'])
        f.write(json.dumps({"id":r['id'],"label":l})+"\n")
from collections import Counter; print(len(L),Counter(L))

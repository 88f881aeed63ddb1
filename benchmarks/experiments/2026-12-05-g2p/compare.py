import re, subprocess, yaml, sys, json
from pathlib import Path
d = {}
for line in open('cmudict.dict'):
    w, *ph = line.split()
    if '(' in w: continue
    d.setdefault(w, [p for p in ph if not p.startswith('#')])
A = {'AA':'ɑ','AE':'æ','AH':'ʌ','AO':'ɔ','AW':'aʊ','AY':'aɪ','EH':'ɛ','ER':'ɝ','EY':'eɪ','IH':'ɪ','IY':'i','OW':'oʊ','OY':'ɔɪ','UH':'ʊ','UW':'u',
'B':'b','CH':'tʃ','D':'d','DH':'ð','F':'f','G':'ɡ','HH':'h','JH':'dʒ','K':'k','L':'l','M':'m','N':'n','NG':'ŋ','P':'p','R':'ɹ','S':'s','SH':'ʃ','T':'t','TH':'θ','V':'v','W':'w','Y':'j','Z':'z','ZH':'ʒ'}
def cmu(w):
    out=[]
    for p in d[w]:
        base, stress = re.match(r'([A-Z]+)(\d?)', p).groups()
        if base=='AH' and stress=='0': out.append('ə')
        elif base=='ER' and stress=='0': out.append('ɚ')
        else: out.append(A[base])
    return ''.join(out)
def norm(s):
    s = re.sub('[ˈˌː]', '', s)
    for a,b in [('ɐ','ə'),('ɾ','t'),('ɜɹ','ɝ'),('ɚ','ɝ'),('ɑɹ','ɑɹ'),('ᵻ','ɪ'),('i','i')]: s=s.replace(a,b)
    return s
words=set()
for f in Path('examples').glob('*.yaml'):
    words |= set(re.findall(r"[a-z']+", f.read_text().lower().split('\n',0)[0]))
words = sorted(w for w in words if len(w)>1)
same=diff=oov=0; diffs=[]
for w in words:
    e = subprocess.run(['espeak-ng','-q','--ipa','-v','en-us',w],capture_output=True,text=True).stdout.strip()
    if w not in d: oov+=1; continue
    c = cmu(w)
    if norm(e)==norm(c): same+=1
    else: diff+=1; diffs.append((w,e,c))
print(len(words), 'words; same', same, 'differ', diff, 'not in CMUdict', oov)
for x in diffs[:80]: print(*x)
